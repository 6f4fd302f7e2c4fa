# Sourced by tune_policy.sh and ex96trans_sensitivity.sh: the classArgs helpers their candidates use,
# and one run of benchmarks/tune_policy.py per start-up cost (the bank's measured one, then none).

# rnk SETTINGS_JSON: classArgs that set RNK's settings (or `false` to turn it off)
rnk() { echo "{\"indicators\": {\"RNK\": $1}}"; }
# guard NOISE_K: classArgs that set the noise guard of NMG and ULC
guard() { echo "{\"indicators\": {\"NMG\": {\"noise_k\": $1}, \"ULC\": {\"noise_k\": $1}}}"; }

# tune_each_startup TUNE_POLICY_ARGS...: benchmarks/tune_policy.py with the measured start-up, then with none
tune_each_startup() {
  for startup in measured 0; do
    echo "# start-up: $startup"
    extra=(); [ "$startup" = measured ] || extra=(--startup "$startup")
    nice -n "${NICE:-10}" python benchmarks/tune_policy.py "$@" "${extra[@]}"
  done
}
