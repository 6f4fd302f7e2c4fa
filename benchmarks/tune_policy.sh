#!/usr/bin/env bash
# How the default policy's thresholds were chosen: each candidate setting next to the default, on
# the tuning banks only (digits, cifar10cnn; cifar10lstm is held out), 100 paired seeds of iid draws,
# with the measured start-up and without. Output: benchmarks/results/simulate/policy/tuning.txt
# (the first round: its candidates are relative to the default of its day, whose RNK started at a
# quarter of the epochs with 10 peers and agreement 0.9; the second round, tune_policy_round2.sh,
# changed those three, so a rerun now varies the current default instead)
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/simulate/policy/tuning.txt
. benchmarks/tune_each_startup.sh
tune_each_startup benchmarks/banks/digits.jsonl benchmarks/banks/cifar10cnn.jsonl \
  --seeds 100 --sampling iid --nni --oracle \
  --candidate paper '{"preset": "paper"}' \
  --candidate default '{}' \
  --candidate 'RNK off' "$(rnk false)" \
  --candidate 'RNK noise_k 2' "$(rnk '{"noise_k": 2}')" \
  --candidate 'RNK noise_k 4' "$(rnk '{"noise_k": 4}')" \
  --candidate 'RNK no agreement check' "$(rnk '{"min_finished": 0}')" \
  --candidate 'RNK before 12-03' "$(rnk '{"min_finished": 0, "noise_k": 4}')" \
  --candidate 'RNK agreement 0.7' "$(rnk '{"min_rank_agreement": 0.7}')" \
  --candidate 'RNK agreement 0.8' "$(rnk '{"min_rank_agreement": 0.8}')" \
  --candidate 'RNK min_finished 3' "$(rnk '{"min_finished": 3}')" \
  --candidate 'RNK min_finished 10' "$(rnk '{"min_finished": 10}')" \
  --candidate 'RNK no veto' "$(rnk '{"veto_drop": 100}')" \
  --candidate 'RNK start 0' "$(rnk '{"start_fraction": 0}')" \
  --candidate 'RNK start 0.5' "$(rnk '{"start_fraction": 0.5}')" \
  --candidate 'RNK end 1' "$(rnk '{"end_fraction": 1}')" \
  --candidate 'RNK share 0.3' "$(rnk '{"max_share_better": 0.3}')" \
  --candidate 'RNK share 0.7' "$(rnk '{"max_share_better": 0.7}')" \
  --candidate 'RNK min_peers 5' "$(rnk '{"min_peers": 5}')" \
  --candidate 'RNK min_peers 20' "$(rnk '{"min_peers": 20}')" \
  --candidate 'guard off' "$(guard 0)" \
  --candidate 'guard noise_k 2' "$(guard 2)" \
  --candidate 'guard noise_k 8' "$(guard 8)" \
  2>&1 | tee "$out"
