#!/usr/bin/env bash
# How RNK came to rank from the first epoch (second round, 2026-12-03): after the first held-out round
# showed the default trailing Medianstop on Ex96Trans, RNK's start, min_peers and min_rank_agreement
# were chosen on all eight banks of the first two rounds (all of them seen by then), 50 paired seeds
# of iid draws with each bank's measured start-up; the second held-out round (`*_holdout2`, recorded
# before this choice) judges it. Output: benchmarks/results/simulate/policy/tuning_round2.txt
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/simulate/policy/tuning_round2.txt
. benchmarks/tune_each_startup.sh  # for rnk
banks=()
for name in digits cifar10cnn cifar10lstm ex96trans digits_holdout cifar10cnn_holdout cifar10lstm_holdout \
  ex96trans_holdout; do banks+=("benchmarks/banks/$name.jsonl"); done
nice -n "${NICE:-10}" python benchmarks/tune_policy.py "${banks[@]}" --seeds 50 --sampling iid --nni medianstop \
  --candidate 'before round 2' "$(rnk '{"start_fraction": 0.25, "min_peers": 10, "min_rank_agreement": 0.9}')" \
  --candidate 'start 0' "$(rnk '{"min_peers": 10, "min_rank_agreement": 0.9}')" \
  --candidate 'start 0, min_peers 5' "$(rnk '{"min_rank_agreement": 0.9}')" \
  --candidate 'default (agreement 0.8)' '{}' \
  --candidate 'agreement 0.7' "$(rnk '{"min_rank_agreement": 0.7}')" \
  2>&1 | tee "$out"
