# Sourced by benchmarks/simulate_policy.sh and benchmarks/simulate_pools.sh (not run on its own).
#
# simulate_bank BANK_FILE OUT_PREFIX FRAC_IID FRAC_HALVES: BANK_FILE simulated with no stopping, the
# paper preset, the default, Medianstop and (maximizing banks) Curvefitting; $SEEDS paired seeds,
# concurrency 8, each sampling with its budget fraction, and two start-up costs (the bank's measured
# one and none). Each run's command and output go to OUT_PREFIX<sampling>-startup-<measured|0>/.
simulate_bank() {
  local bank=$1 prefix=$2 frac_iid=$3 frac_halves=$4
  local policies="benchmarks/policies/paper.yml default medianstop"
  grep -q '"direction": "maximize"' <(head -1 "$bank") && policies="$policies curvefitting"
  local sampling startup frac out command
  for sampling in iid halves; do
    frac=$frac_iid; [ "$sampling" = iid ] || frac=$frac_halves
    for startup in measured 0; do
      out=$prefix$sampling-startup-$startup
      mkdir -p "$out"
      command="bttackler simulate $bank --policy $policies --seeds ${SEEDS:-50}"
      command="$command --budget-frac $frac --concurrency 8 --sampling $sampling --out $out"
      [ "$startup" = measured ] || command="$command --startup $startup"
      { echo "# $command"; nice -n "${NICE:-10}" $command; } 2>&1 | tee "$out/output.txt"
    done
  done
}
