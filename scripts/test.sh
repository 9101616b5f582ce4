#!/usr/bin/env bash
# Sets up the machine and runs Skiff's whole test suite (this is what CI runs), then every libFuzzer target
# for a bounded time (scripts/fuzz.sh; docs/SECURITY.md §6): a crash, timeout or out-of-memory input fails.
#   SKIFF_FUZZ_SECONDS  seconds per fuzz target (default 30; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
# The image tests ship skiff-runtime from beside skiff; 'swift test' builds every product, this makes sure of it.
swift build --product skiff-runtime
swift test --disable-xctest
seconds=${SKIFF_FUZZ_SECONDS:-30}
if [ "$seconds" != 0 ]; then
  began=$(date +%s)
  scripts/fuzz.sh --seconds "$seconds" --parallel 2
  echo "test.sh: fuzzing took $(( $(date +%s) - began )) s (build included)" >&2
fi
