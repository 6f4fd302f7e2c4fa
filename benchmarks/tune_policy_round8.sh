#!/usr/bin/env bash
# Eighth round (2026-12-05): RNK's saving gate, built from round 7's prototype (round7.txt, screens
# 3-4). Where the finished peers cannot show rank agreement yet, RNK fires when a stop saves at least
# min_saving of a trial's cost, from epoch saving_first_epoch on; the start-up comes from the first
# record (the Reporter's measure live, the charged start-up in a simulation). Scored on round 7's
# development banks (the pools of benchmarks/simulate_pools.sh at a 30-trial budget, the small single
# banks at 0.5), 30 paired seeds of i.i.d. draws, with each bank's measured start-up, two thirds of it
# (what a Reporter alone sees of it: its process's part, 3.2-3.5 of 4.9-5.2 s on the nnictl recordings
# here) and none.
# cifar10lstm_holdout9 and ex96trans_holdout10 are held out from this choice. Run with the default of
# its day (gate off: min_saving 1), which the 'default' rows are; 'gate 0.6 from e1' became the default.
# Output: benchmarks/results/simulate/policy/tuning_round8.txt
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/simulate/policy/tuning_round8.txt
gate() { echo "{\"indicators\": {\"RNK\": {\"min_saving\": $1, \"saving_first_epoch\": $2}}}"; }
tune() {
  nice -n "${NICE:-10}" python benchmarks/tune_policy.py "$@" --seeds "${SEEDS:-30}" --sampling iid --nni medianstop \
    --candidate 'default' '{}' \
    --candidate 'gate 0.5' "$(gate 0.5 0)" \
    --candidate 'gate 0.6' "$(gate 0.6 0)" \
    --candidate 'gate 0.7' "$(gate 0.7 0)" \
    --candidate 'gate 0.8' "$(gate 0.8 0)" \
    --candidate 'gate 0.3 from e1' "$(gate 0.3 1)" \
    --candidate 'gate 0.4 from e1' "$(gate 0.4 1)" \
    --candidate 'gate 0.5 from e1' "$(gate 0.5 1)" \
    --candidate 'gate 0.6 from e1' "$(gate 0.6 1)"
}
# BANK BUDGET_FRAC pairs: the pools at 30 trials' budget, the single banks at 0.5
banks=(pools/ex96trans_pool 0.0962 pools/cifar10cnn_e20_pool 0.25 pools/cifar10lstm_pool 0.1667
  pools/digits_pool 0.0857 pools/cifar10cnn_pool 0.1667 cifar10cnn 0.5 cifar10lstm 0.5 cifar10lstm_holdout 0.5)
# startup SHARE BANK: SHARE x BANK's measured start-up, in seconds
startup() { python -c "import json, sys; print(round($1 * json.loads(open(sys.argv[1]).readline())['startup_seconds'], 3))" "$2"; }
for share in 1 0.6667 0; do
  echo "# start-up: $share x measured"
  header=1
  for ((i = 0; i < ${#banks[@]}; i += 2)); do
    bank="benchmarks/banks/${banks[i]}.jsonl"
    tune "$bank" --budget-frac "${banks[i + 1]}" --startup "$(startup $share "$bank")" | tail -n +$header
    header=2
  done
done | tee "$out"
