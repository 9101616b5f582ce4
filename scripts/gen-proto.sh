#!/usr/bin/env bash
# Regenerates the committed protobuf-c code for proto/skiff_tf.proto (needs protobuf-c-compiler).
# The output is committed so builds need only libprotobuf-c, not the compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
out=Sources/CSavedModelProto
mkdir -p "$out/include"
protoc-c --proto_path=proto --c_out="$out" proto/skiff_tf.proto
mv "$out/skiff_tf.pb-c.h" "$out/include/skiff_tf.pb-c.h"
sed -i 's|#include "skiff_tf.pb-c.h"|#include "include/skiff_tf.pb-c.h"|' "$out/skiff_tf.pb-c.c"
echo "regenerated $out from proto/skiff_tf.proto"
