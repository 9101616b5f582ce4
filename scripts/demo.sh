#!/usr/bin/env bash
# Sets up the machine, builds skiff (release), converts the bundled default model (a small Keras 3
# MobileNet-style classifier), runs it on the bundled input and compares with Keras's own output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product skiff
bin="$(swift build -c release --show-bin-path)/skiff"
out="${TMPDIR:-/tmp}/skiff-demo"
mkdir -p "$out"
model=fixtures/keras/k3_functional.keras

"$bin" convert keras "$model" -o "$out/model.skiff" --labels fixtures/labels/ten_classes.txt
"$bin" inspect "$out/model.skiff"
"$bin" run "$out/model.skiff" --input fixtures/keras/k3_functional.in0.npy --output "$out/probabilities.npy"
python3 - "$out/probabilities.npy" fixtures/keras/k3_functional.out0.npy <<'PY' || echo "(python3 with numpy not found: skipped the comparison with Keras)"
import sys
import numpy as np
skiff, keras = np.load(sys.argv[1]), np.load(sys.argv[2])
print(f"skiff vs Keras on {skiff.shape[0]} images: max abs difference {np.abs(skiff - keras).max():.2e}, "
      f"same top-1 class: {bool((skiff.argmax(-1) == keras.argmax(-1)).all())}")
PY
