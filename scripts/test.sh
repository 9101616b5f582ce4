#!/usr/bin/env bash
# Sets up the machine and runs Skiff's whole test suite (this is what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests
swift test --disable-xctest
