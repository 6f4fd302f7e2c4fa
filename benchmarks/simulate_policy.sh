#!/usr/bin/env bash
# The evidence for the default policy (issue 9, part 4): every committed trace bank simulated with
# no stopping, BTTackler's paper preset, BTTackler's default, NNI's Medianstop and (on the accuracy
# tasks) Curvefitting; 50 paired seeds, concurrency 8, half the time no stopping needs for the
# bank's size, both samplings, and two start-up costs per trial: the bank's measured one (NNI on
# this 2-core machine) and none (start-up small against epoch time, as on the paper's GPU runs).
# Results: benchmarks/results/simulate/policy/<bank>/<sampling>-startup-<measured|0>/.
#
#   benchmarks/simulate_policy.sh                 # every bank
#   benchmarks/simulate_policy.sh digits          # one bank
#   SEEDS=20 benchmarks/simulate_policy.sh digits
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benchmarks/simulate_bank.sh
source benchmarks/simulate_bank.sh
# no arguments: every bank in benchmarks/banks
[ $# -gt 0 ] || set -- $(cd benchmarks/banks && ls -- *.jsonl | sed 's/\.jsonl$//')
for bank in "$@"; do
  [ -f "benchmarks/banks/$bank.jsonl" ] || { echo "no bank $bank; skipped"; continue; }
  simulate_bank "benchmarks/banks/$bank.jsonl" "benchmarks/results/simulate/policy/$bank/" 0.5 0.5
done
