#!/usr/bin/env bash
# What holds the default back against Medianstop on the held-out ex96trans bank (issue 9): RNK's settings
# varied one at a time on that bank only. A diagnosis, not a tuning run: no value of the default is taken
# from what this shows, since ex96trans would then no longer be held out. Output:
# benchmarks/results/simulate/policy/ex96trans_sensitivity.txt
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/simulate/policy/ex96trans_sensitivity.txt
. benchmarks/tune_each_startup.sh
tune_each_startup benchmarks/banks/ex96trans.jsonl \
  --seeds 50 --sampling iid halves --nni medianstop --oracle \
  --candidate default '{}' \
  --candidate 'RNK off' "$(rnk false)" \
  --candidate 'RNK min_peers 5' "$(rnk '{"min_peers": 5}')" \
  --candidate 'RNK min_peers 3' "$(rnk '{"min_peers": 3}')" \
  --candidate 'RNK start 0' "$(rnk '{"start_fraction": 0}')" \
  --candidate 'RNK share 0.3' "$(rnk '{"max_share_better": 0.3}')" \
  --candidate 'RNK noise_k 4' "$(rnk '{"noise_k": 4}')" \
  --candidate 'RNK no agreement check' "$(rnk '{"min_finished": 0}')" \
  --candidate 'RNK before 12-03' "$(rnk '{"min_finished": 0, "noise_k": 4}')" \
  --candidate 'RNK peers 5, start 0' "$(rnk '{"min_peers": 5, "start_fraction": 0}')" \
  2>&1 | tee "$out"
