#!/usr/bin/env bash
# Builds Skiff's libFuzzer targets (Fuzz/) and runs each for a bounded time. Exits non-zero if any target
# finds a crash, a timeout or an out-of-memory input (the input is kept in WORK/artifacts/TARGET/).
#
#   scripts/fuzz.sh [--seconds N | --minutes N] [--target NAME]... [--parallel P] [--work DIR] [--no-build]
#
#   --seconds N / --minutes N   time per target (default 30 s; CI uses --seconds 30)
#   --target NAME               run only NAME (repeatable); default: every target in Fuzz/Package.swift
#   --parallel P                targets run at once (default 1; each libFuzzer process uses one core)
#   --work DIR                  corpora, logs and findings (default .fuzz/); corpora grow across runs
#   --no-build                  use the targets already built
#   --list                      print the target names and exit
# Environment: FUZZ_SCRATCH (build folder, default .build-fuzz), SKIFF (a skiff binary for extra .skiff seeds;
# default .build/debug/skiff when present), FUZZ_NICE (a nice level for the runs, e.g. 10).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=30 parallel=1 work=.fuzz build=1 targets=() list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --minutes) seconds=$(( $2 * 60 )); shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --list) list=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

all=$(sed -n '/^let targets = \[/,/\]/p' Fuzz/Package.swift | grep -o '"Fuzz[A-Za-z]*"' | tr -d '"')
[ $list -eq 1 ] && { echo "$all"; exit 0; }
[ ${#targets[@]} -eq 0 ] && read -r -a targets <<< "$(echo $all)"
for t in "${targets[@]}"; do
  echo "$all" | grep -qx "$t" || { echo "fuzz.sh: no target '$t' (targets: $(echo $all))" >&2; exit 2; }
done

# Per-target settings: the longest input (bytes) and the dictionary. Inputs are capped near the size of
# the largest seed so executions stay fast; every limit on bigger inputs has a unit test of its own.
max_len() {
  case "$1" in
    FuzzSkiffFile) echo 262144 ;; FuzzKerasArchive) echo 200000 ;; FuzzSavedModel) echo 131072 ;;
    FuzzKerasConfig) echo 65536 ;; FuzzImage|FuzzPredictRequest|FuzzLambdaEvent) echo 32768 ;;
    FuzzNpy) echo 8192 ;; *) echo 4096 ;;
  esac
}
dict() {
  case "$1" in
    FuzzSkiffFile) echo skiff ;; FuzzNpy) echo npy ;; FuzzImage) echo image ;; FuzzPredictRequest) echo request ;;
    FuzzLambdaEvent) echo lambda ;; FuzzModelConfig) echo models_config ;; FuzzRecipe) echo recipe ;;
    FuzzKerasArchive) echo keras_archive ;; FuzzKerasConfig) echo keras_config ;; FuzzSavedModel) echo savedmodel ;;
  esac
}

scratch=${FUZZ_SCRATCH:-$root/.build-fuzz}
if [ $build -eq 1 ]; then
  echo "fuzz.sh: building ${#targets[@]} target(s) in $scratch" >&2
  began=$(date +%s)
  # -sanitize=fuzzer links libFuzzer's main and instruments every Swift module for coverage; -parse-as-library
  # because each target's only file defines LLVMFuzzerTestOneInput instead of top-level code.
  swift build -c debug --package-path Fuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >&2
  echo "fuzz.sh: build took $(( $(date +%s) - began )) s" >&2
fi
bin=$(swift build -c debug --package-path Fuzz --scratch-path "$scratch" --show-bin-path \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)

mkdir -p "$work"
work=$(cd "$work" && pwd)
skiff=${SKIFF:-}
[ -z "$skiff" ] && [ -x .build/debug/skiff ] && skiff=$root/.build/debug/skiff
scripts/fuzz-seeds.sh "$work" "$skiff"
export SKIFF_FUZZ_DATA="$work/data" SKIFF_FIXTURES="$root/fixtures"
# Swift's runtime keeps metadata caches for the life of the process; LeakSanitizer would report them.
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"

run() {
  local t=$1
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/logs"
  # -timeout: one input may take 10 s (a debug, ASan build); -rss_limit_mb also caps single allocations.
  # -close_fd_mask=1 silences the targets' stdout; libFuzzer's report goes to stderr (the log).
  ${FUZZ_NICE:+nice -n $FUZZ_NICE} "$bin/$t" "$work/corpus/$t" "$work/seeds/$t" \
    -dict="$root/Fuzz/dictionaries/$(dict "$t").dict" -max_len="$(max_len "$t")" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=1 \
    -artifact_prefix="$work/artifacts/$t/" > "$work/logs/$t.log" 2>&1
}

echo "fuzz.sh: ${#targets[@]} target(s), ${seconds} s each, $parallel at a time; logs in $work/logs" >&2
pids=() names=()
for t in "${targets[@]}"; do
  run "$t" & pids+=($!) names+=("$t")
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do sleep 1; done
done
status=()
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then status+=(0); else status+=($?); fi
done

failed=0
printf '%-20s %10s %8s %8s %8s  %s\n' target executions cov ft corpus result
for i in "${!names[@]}"; do
  t=${names[$i]} log="$work/logs/${names[$i]}.log"
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}')
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')
  corpus=$(find "$work/corpus/$t" -type f | wc -l)
  if [ "${status[$i]}" -eq 0 ]; then
    result=ok
  else
    failed=1
    kind=$(grep -o -m1 -E 'ERROR: libFuzzer: [a-z-]+|ERROR: AddressSanitizer: [a-z-]+|Fatal error: .*|deadly signal' "$log" || true)
    result="FINDING (exit ${status[$i]}: ${kind:-see log}) — $(ls "$work/artifacts/$t" | head -3 | tr '\n' ' ')"
  fi
  printf '%-20s %10s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$result"
done
if [ $failed -ne 0 ]; then
  echo "fuzz.sh: findings above; reproduce with $bin/TARGET $work/artifacts/TARGET/FILE (logs: $work/logs)" >&2
  exit 1
fi
