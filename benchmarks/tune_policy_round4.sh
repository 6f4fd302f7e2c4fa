#!/usr/bin/env bash
# Fourth round (2026-12-05): a leader guard for NMG and ULC. On cifar10cnn_e20_holdout4, the first bank
# at 20 epochs, the best trials peak early, plateau, and NMG stops them on the plateau, below the best
# epoch that would have been their final result (benchmarks/results/simulate/policy/README.md). The
# candidates veto NMG and ULC (and RNK: "+ RNK") while at most `leader_share` of the other trials'
# best results beat the trial's best so far. Scored on all fifteen banks simulated so far (cifar10cnn_e20_holdout4 now among them),
# 30 paired seeds of iid draws, with each bank's measured start-up and with none, two processes at a time.
# Output: benchmarks/results/simulate/policy/tuning_round4.txt
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/simulate/policy/tuning_round4.txt
# leader SHARE [RNK]: classArgs with the leader guard on NMG and ULC (and RNK when a second word is given)
leader() {
  local rnk=""; [ $# -lt 2 ] || rnk=", \"RNK\": {\"leader_share\": $1}"
  echo "{\"indicators\": {\"NMG\": {\"leader_share\": $1}, \"ULC\": {\"leader_share\": $1}$rnk}}"
}
tune() {
  nice -n "${NICE:-10}" python benchmarks/tune_policy.py "$@" --seeds "${SEEDS:-30}" --sampling iid --nni medianstop \
    --candidate 'default' '{}' \
    --candidate 'leader 0.1' "$(leader 0.1)" \
    --candidate 'leader 0.2' "$(leader 0.2)" \
    --candidate 'leader 0.1 + RNK' "$(leader 0.1 rnk)" \
    --candidate 'leader 0.2 + RNK' "$(leader 0.2 rnk)"
}
banks() { for name in "$@"; do echo "benchmarks/banks/$name.jsonl"; done; }
tmp=$(mktemp -d)
for startup in measured 0; do
  extra=(); [ "$startup" = measured ] || extra=(--startup 0)
  tune $(banks cifar10cnn_e20_holdout4 digits cifar10cnn cifar10lstm ex96trans digits_holdout cifar10cnn_holdout) \
    "${extra[@]}" >"$tmp/a" &
  tune $(banks cifar10lstm_holdout ex96trans_holdout digits_holdout2 cifar10cnn_holdout2 ex96trans_holdout2 \
    digits_holdout3 cifar10cnn_holdout3 ex96trans_holdout3) "${extra[@]}" >"$tmp/b"
  wait
  echo "# start-up: $startup"
  cat "$tmp/a"
  tail -n +2 "$tmp/b"
done | tee "$out"
