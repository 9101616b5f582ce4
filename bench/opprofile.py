"""Where each engine spends a warm run, by kind of op: Skiff (`skiff bench --profile`) beside ONNX Runtime's own
profiler, same model, same thread count, same batch. Not part of CI.

    /tmp/bench/bin/python bench/opprofile.py [--model mobilenet_v2_160] [--threads 1] [--batch 1]

Kinds: pointwise = 1×1 convolutions, conv = other convolutions (the stem, 3×3), depthwise = convolutions with a
group per channel, dense = MatMul/Gemm and Keras Dense, other = everything else (adds, pooling, softmax, reshapes).
ORT times are its per-node kernel times (`kernel_time` events, summed over runs, divided by runs).
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compare import MODELS  # noqa: E402

ORT_PROFILE = r'''
import sys, json, numpy as np, onnx, onnxruntime as ort, collections
path, batch, h, w, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
kinds = {}
g = onnx.load(path).graph
for n in g.node:
    if n.op_type == "Conv":
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        init = {i.name: i for i in g.initializer}
        k = init.get(n.input[1])
        kh = k.dims[2] if k is not None else 3
        kinds[n.name] = "depthwise" if group > 1 else ("pointwise" if kh == 1 else "conv")
    elif n.op_type in ("MatMul", "Gemm"):
        kinds[n.name] = "dense"
    else:
        kinds[n.name] = "other"
o2 = ort.SessionOptions(); o2.intra_op_num_threads = threads; o2.inter_op_num_threads = 1; o2.enable_profiling = True
x = np.random.default_rng(0).uniform(-1, 1, (batch, h, w, 3)).astype("float32")
s = ort.InferenceSession(path, o2, providers=["CPUExecutionProvider"])
name = s.get_inputs()[0].name
for _ in range(3): s.run(None, {name: x})
import time
t0 = time.perf_counter()
for _ in range(runs): s.run(None, {name: x})
total = (time.perf_counter() - t0) * 1000 / runs
trace = json.load(open(s.end_profiling()))
# Warm-up runs are in the trace too: count only the timed runs' events.
runs_seen = [e for e in trace if e.get("name") == "model_run"]
start = runs_seen[-runs]["ts"]
by = collections.defaultdict(float)
fused = collections.Counter()
for e in trace:
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
        node = e["name"][: -len("_kernel_time")]
        op = e.get("args", {}).get("op_name", "")
        kind = kinds.get(node)
        if kind is None:  # nodes ORT renamed by fusing or re-laying out (Conv+Relu → FusedConv, NCHWc): by weight shape
            shapes = [list(d.values())[0] for d in e.get("args", {}).get("input_type_shape", [])]
            w = shapes[1] if len(shapes) > 1 else []
            if "Conv" in op and len(w) >= 4:
                kind = "depthwise" if w[1] == 1 else ("pointwise" if w[2] == 1 and w[3] == 1 else "conv")
            else:
                kind = "other"
            fused[op] += 1
        by[kind] += e["dur"] / 1000 / runs
print(json.dumps({"total_ms": total, "by_kind_ms": by, "unmatched_ops": fused}))
'''


def skiff_kinds(skiff, spath, batch, threads, runs):
    out = json.loads(subprocess.run([skiff, "bench", spath, "--batch", str(batch), "--threads", str(threads), "--runs", str(runs),
                                     "--profile", "--json"], capture_output=True, text=True, check=True).stdout)
    return out["warmMilliseconds"]["median"], out["profileMilliseconds"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", default=os.path.join(ROOT, ".build", "release", "skiff"))
    ap.add_argument("--model", default="mobilenet_v2_160", choices=list(MODELS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    import keras
    with tempfile.TemporaryDirectory() as d:
        keras.utils.set_random_seed(0)
        model = MODELS[args.model](keras)
        h, w = model.input_shape[1], model.input_shape[2]
        kpath, spath, sm, onnx = (os.path.join(d, args.model + e) for e in (".keras", ".skiff", "_sm", ".onnx"))
        model.save(kpath)
        subprocess.run([args.skiff, "convert", "keras", kpath, "-o", spath], check=True, capture_output=True)
        model.export(sm, verbose=False)
        subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", sm, "--output", onnx, "--opset", "17"], check=True, capture_output=True)
        # Skiff's profile is by op kind: its conv2d row is ORT's pointwise + conv.
        total, kinds = skiff_kinds(args.skiff, spath, args.batch, args.threads, args.runs)
        cwd = os.getcwd()
        os.chdir(d)
        ort = json.loads(subprocess.run([sys.executable, "-c", ORT_PROFILE, onnx, str(args.batch), str(h), str(w), str(args.threads), str(args.runs)],
                                        capture_output=True, text=True, check=True).stdout)
        os.chdir(cwd)
    print(json.dumps({"model": args.model, "threads": args.threads, "batch": args.batch,
                      "skiff": {"median_ms": total, "by_kind_ms": kinds}, "ort": ort}, indent=1))


if __name__ == "__main__":
    main()
