#!/bin/bash
# A/B two skiff binaries on one model, alternating them over several rounds (this VM's speed drifts by
# ±30% within minutes, so back-to-back single runs mislead). Prints each binary's min and median of the
# per-round medians. Binaries are paths relative to the current directory.
#   RUNS=150 bench/ab.sh model.skiff skiff-before skiff-after [rounds] [-- extra bench args]
# METRIC=load compares load time (open, validate, decompress, plan) instead of warm latency: one process per
# round and binary, so use more rounds (e.g. 30).
m=$1; a=$2; b=$3; r=${4:-6}; shift $(( $# < 4 ? $# : 4 )); [ "${1:-}" = "--" ] && shift
metric=${METRIC:-warm}
runs=${RUNS:-150}; [ "$metric" = load ] && runs=1
for i in $(seq $r); do for x in $a $b; do echo "$x $("$x" bench $m --runs $runs --json "$@" | METRIC=$metric python3 -c '
import json, os, sys
d = json.load(sys.stdin)
if os.environ["METRIC"] == "load": print(d["loadMilliseconds"], d["loadMilliseconds"])
else: w = d["warmMilliseconds"]; print(w["min"], w["median"])')"; done; done | python3 -c '
import sys, statistics as s, collections
d = collections.defaultdict(list)
for l in sys.stdin:
    n, mn, md = l.split(); d[n].append((float(mn), float(md)))
for n, v in d.items(): print(n, "min %.2f" % min(x[0] for x in v), "median-of-medians %.2f" % s.median(x[1] for x in v))'
