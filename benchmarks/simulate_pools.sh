#!/usr/bin/env bash
# The default policy on pools (benchmarks/results/simulate/pools/README.md): the committed banks of
# one task and setting, recorded with different tuner seeds, merged with `bttackler bank merge` into
# one larger bank each (written to benchmarks/banks/pools/, not committed: this script makes them),
# then simulated like benchmarks/simulate_policy.sh does a bank (50 paired seeds, concurrency 8, both
# samplings, the measured start-up and none), but with the budget of a search on one bank of 60
# trials: the time no stopping needs for 30 trials (--budget-frac 30/size of the pool with i.i.d.
# draws, 60/size with halves draws, whose halves each hold half the pool). So a rule that runs two
# or three times the baseline's trials draws few traces twice, as in a real search, where every
# extra trial is a new configuration. (Half the pool's size, the tables' protocol, would make the
# searches 60-175 trials long and bring the repeats back.)
# Results: benchmarks/results/simulate/pools/<pool>/short-<sampling>-startup-<measured|0>/.
#
#   benchmarks/simulate_pools.sh                  # every pool
#   benchmarks/simulate_pools.sh ex96trans_pool   # one pool
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benchmarks/simulate_bank.sh
source benchmarks/simulate_bank.sh
declare -A POOLS=(
  [digits_pool]="digits digits_holdout digits_holdout2 digits_holdout3"
  [cifar10cnn_pool]="cifar10cnn_holdout cifar10cnn_holdout2 cifar10cnn_holdout3"
  [cifar10cnn_e20_pool]="cifar10cnn_e20_holdout4 cifar10cnn_e20_holdout5"
  [cifar10lstm_pool]="cifar10lstm_holdout cifar10lstm_holdout7 cifar10lstm_holdout8"
  [ex96trans_pool]="ex96trans ex96trans_holdout ex96trans_holdout2 ex96trans_holdout3 ex96trans_holdout6"
)
[ $# -gt 0 ] || set -- digits_pool cifar10cnn_pool cifar10cnn_e20_pool cifar10lstm_pool ex96trans_pool
mkdir -p benchmarks/banks/pools
for pool in "$@"; do
  [ -n "${POOLS[$pool]:-}" ] || { echo "no pool $pool (known: ${!POOLS[*]})"; exit 2; }
  bank=benchmarks/banks/pools/$pool.jsonl
  bttackler bank merge $(for name in ${POOLS[$pool]}; do echo "benchmarks/banks/$name.jsonl"; done) --out "$bank" --overwrite  # a pool is rebuilt from its banks
  # Curvefitting's answers depend only on the question (a trace's first reports), not on the bank
  # that asks it, so a pool's cache starts from its banks' caches where simulate_policy.sh left them
  cat $(for name in ${POOLS[$pool]}; do echo "benchmarks/banks/$name.jsonl.curves"; done) >"$bank.curves" 2>/dev/null || true
  size=$(($(wc -l <"$bank") - 1))
  # i.i.d.: 30 trials' time out of the pool; halves: 30 out of a half
  simulate_bank "$bank" "benchmarks/results/simulate/pools/$pool/short-" \
    "$(python3 -c "print(round(30 / $size, 4))")" "$(python3 -c "print(round(60 / $size, 4))")"
done
