#!/usr/bin/env bash
# Sets up the machine and runs Skiff's whole test suite (this is what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
# The image tests ship skiff-runtime from beside skiff; 'swift test' builds every product, this makes sure of it.
swift build --product skiff-runtime
swift test --disable-xctest
