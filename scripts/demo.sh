#!/usr/bin/env bash
# Sets up the machine, builds the skiff command (release) and runs it on the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product skiff
bin="$(swift build -c release --show-bin-path)/skiff"
"$bin" version
"$bin" inspect fixtures/tiny_classifier.skiff
