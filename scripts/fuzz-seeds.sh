#!/usr/bin/env bash
# Builds the fuzz targets' seed corpora from fixtures/ (nothing large is committed; this regenerates them).
#   scripts/fuzz-seeds.sh OUT [SKIFF]
# OUT/seeds/<Target>/ gets one file per seed; OUT/data/keras-weights/ the HDF5 weight files FuzzKerasConfig
# and FuzzKerasArchive read (taken out of the .keras fixtures). With SKIFF (a built `skiff` binary), Keras and
# SavedModel fixtures are also converted into extra .skiff seeds covering more ops than tiny_classifier.
# Needs python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/fuzz-seeds.sh OUT [SKIFF]}
skiff=${2:-}
rm -rf "$out/seeds" "$out/data"
mkdir -p "$out/data/keras-weights"
for t in FuzzSkiffFile FuzzNpy FuzzImage FuzzPredictRequest FuzzLambdaEvent FuzzModelConfig FuzzRecipe FuzzKerasArchive FuzzKerasConfig FuzzSavedModel; do
  mkdir -p "$out/seeds/$t"
done
s="$out/seeds"

# .skiff: the committed sample, plus conversions of the Keras/SavedModel fixtures when a skiff binary is given.
cp fixtures/tiny_classifier.skiff "$s/FuzzSkiffFile/"
if [ -n "$skiff" ]; then
  for k in fixtures/keras/k3_*.keras; do
    "$skiff" convert keras "$k" -o "$s/FuzzSkiffFile/$(basename "$k" .keras).skiff" >/dev/null 2>&1 || true
  done
  "$skiff" convert keras fixtures/images/classifier.keras --image auto --preprocess tf -o "$s/FuzzSkiffFile/classifier_image.skiff" >/dev/null 2>&1 || true
  for d in fixtures/savedmodel/*/; do
    "$skiff" convert savedmodel "$d" -o "$s/FuzzSkiffFile/sm_$(basename "$d").skiff" >/dev/null 2>&1 || true
  done
  "$skiff" convert savedmodel fixtures/savedmodel/ops_coverage --precision float16 -o "$s/FuzzSkiffFile/sm_f16.skiff" >/dev/null 2>&1 || true
  "$skiff" convert savedmodel fixtures/savedmodel/ops_coverage --precision int8 -o "$s/FuzzSkiffFile/sm_int8.skiff" >/dev/null 2>&1 || true
fi

cp fixtures/npy/*.npy "$s/FuzzNpy/"
cp fixtures/keras/k3_multi_io.in0.npy fixtures/keras/tfk_weights.out0.npy "$s/FuzzNpy/"

# Images: small JPEGs and PNGs raw; one of each as base64, web-safe base64 and a data: URI.
for f in fixtures/images/*.jpg fixtures/png/*.png; do
  [ "$(stat -c %s "$f")" -le 20000 ] && cp "$f" "$s/FuzzImage/"
done

python3 - "$s" <<'PY'
import base64, json, os, sys, zipfile, glob
s = sys.argv[1]
def put(target, name, data):
    with open(os.path.join(s, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
jpg = open("fixtures/images/tiny_7x5.jpg", "rb").read()
png = open("fixtures/png/camera_1bit.png", "rb").read()
exif = open("fixtures/images/coffee_exif6.jpg", "rb").read()
b64, web = base64.b64encode(jpg).decode(), base64.urlsafe_b64encode(jpg).decode()
put("FuzzImage", "b64.txt", b64)
put("FuzzImage", "websafe.txt", web.rstrip("="))
put("FuzzImage", "datauri.txt", "data:image/jpeg;base64," + b64)
put("FuzzImage", "png_b64.txt", "  " + base64.b64encode(png).decode() + "\n")

# TF Serving bodies; first byte: bit 0 = image model (1) or tensor model (0), bit 1 = :classify (1) or :predict (0).
row = [[[0.5, -1, 2]] * 8] * 8
bodies = {
    "tensor_instances": (0, {"instances": [row, row]}),
    "tensor_inputs": (0, {"inputs": [row]}),
    "tensor_inputs_named": (0, {"inputs": {"image": [row]}}),
    "tensor_signature": (0, {"signature_name": "serving_default", "instances": [row]}),
    "image_b64": (1, {"instances": [{"b64": b64}]}),
    "image_named": (1, {"instances": [{"image_bytes": {"b64": b64}}], "top_k": 2}),
    "image_inputs": (1, {"inputs": {"b64": web}}),
    "image_classify": (3, {"examples": [{"image": {"b64": b64}}]}),
    "tensor_classify": (2, {"examples": [row]}),
}
for name, (sel, body) in bodies.items():
    put("FuzzPredictRequest", name + ".json", bytes([sel]) + json.dumps(body).encode())

# Lambda events: direct invocations, API Gateway REST and HTTP API proxies, a function URL.
events = {
    "direct_b64": {"b64": b64, "top_k": 2},
    "direct_instances": {"instances": [{"b64": b64}, b64]},
    "rest_binary": {"httpMethod": "POST", "path": "/", "headers": {"Content-Type": "image/jpeg"},
                    "queryStringParameters": {"top_k": "1"}, "body": base64.b64encode(exif).decode(), "isBase64Encoded": True},
    "rest_json": {"httpMethod": "POST", "headers": {"content-type": "application/json"}, "body": json.dumps({"image": "data:image/jpeg;base64," + b64}), "isBase64Encoded": False},
    "http_api_png": {"routeKey": "POST /", "rawPath": "/", "requestContext": {"http": {"method": "POST"}},
                     "headers": {"content-type": "image/png"}, "body": base64.b64encode(png).decode(), "isBase64Encoded": True},
    "function_url_text": {"rawPath": "/", "requestContext": {}, "body": b64, "isBase64Encoded": False},
}
for name, e in events.items():
    put("FuzzLambdaEvent", name + ".json", json.dumps(e))

put("FuzzModelConfig", "two.config", """# two models
model_config_list {
  config {
    name: "cats"
    base_path: "repo/cats"
    model_platform: "tensorflow"
    model_version_policy { all {} }
  }
  config: { name: 'dogs', base_path: '/models/dogs', model_version_policy: { specific { versions: 1 versions: 3 } } }
  config { name: "fish" base_path: "fish" model_version_policy { latest { num_versions: 2 } } }
}
""")

# .keras archives (the small ones) and their parts: config.json for FuzzKerasConfig, weights for both targets.
archives = sorted(glob.glob("fixtures/keras/k3_*.keras")) + ["fixtures/images/classifier.keras"]
weights = []
for a in archives:
    stem = os.path.basename(a)[:-len(".keras")]
    with zipfile.ZipFile(a) as z:
        weights.append((stem + ".weights.h5", z.read("model.weights.h5"), z.read("config.json")))
    if os.path.getsize(a) <= 90000:
        put("FuzzKerasArchive", stem + ".keras", open(a, "rb").read())
weights.append(("tfk_weights.weights.h5", open("fixtures/keras/tfk_weights.weights.h5", "rb").read(), open("fixtures/keras/tfk_weights.json", "rb").read()))
weights.append(("tfk_weights_legacy.h5", open("fixtures/keras/tfk_weights_legacy.h5", "rb").read(), open("fixtures/keras/tfk_weights.json", "rb").read()))
data = os.path.join(os.path.dirname(s), "data", "keras-weights")
for name, w, _ in weights:
    with open(os.path.join(data, name), "wb") as f:
        f.write(w)
# FuzzKerasConfig's first byte indexes the sorted weight files.
order = sorted(n for n, _, _ in weights)
for name, _, config in weights:
    put("FuzzKerasConfig", name.split(".")[0] + ".json", bytes([order.index(name)]) + config)

# SavedModels: saved_model.pb, variables.index and the data shard joined by the target's separator.
sep = b"#SKIFF-FUZZ-PART#"
for d in sorted(glob.glob("fixtures/savedmodel/*/")):
    parts = [open(os.path.join(d, p), "rb").read() for p in ("saved_model.pb", "variables/variables.index", "variables/variables.data-00000-of-00001")]
    put("FuzzSavedModel", os.path.basename(d.rstrip("/")) + ".bin", sep.join(parts))
PY

cp recipes/*.yaml "$s/FuzzRecipe/"
cat > "$s/FuzzRecipe/full.yaml" <<'EOF'
name: full
description: every section
source: { format: keras, description: a test }
convert: { image: auto, preprocess: tf, resize: bilinear, crop: 0.875, labels: labels.txt, precision: fp16 }
deploy: { memory: 1024, timeout: 30, architecture: arm64, top_k: 3 }
sinks: { store_images: "s3://bucket/prefix", record: "postgres://u@h/db", mode: required }
EOF
echo "fuzz-seeds: $(find "$s" -type f | wc -l) seeds in $s, $(ls "$out/data/keras-weights" | wc -l) weight files" >&2
