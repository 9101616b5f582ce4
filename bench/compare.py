"""Side-by-side: Skiff vs ONNX Runtime vs TensorFlow/Keras on the same machine, models and inputs.

Writes bench/results.json; docs/BENCHMARKS.md is written from it by bench/report.py. Not part of CI.

    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install -r bench/requirements.txt
    swift build -c release && /tmp/bench/bin/python bench/compare.py [--models mobilenet_v2_160 ...]

Per model (random weights; speed does not depend on their values):
- engine table, Skiff vs ONNX Runtime: warm latency with 1 and 2 threads at batch 1 and batch 8. The two
  engines alternate over `--rounds` rounds (one process per engine and round; this VM's speed drifts by
  ±30% within minutes); each process times `--runs` runs after warm-up; median and p90 over all runs;
- contention rows: the same at batch 1 while a busy loop (started and stopped here) is pinned to CPU 0;
- TensorFlow warm latency (2 threads, batch 1 and 8, one process each), for the Skiff/TF column;
- cold start: a new process that loads the model, decodes a JPEG, preprocesses, runs it and prints the
  top-5 (Skiff: `skiff predict`; ORT and TF: the equivalent Python script), wall time, median of 3;
- peak RSS (VmHWM) of a warm-latency process (2 threads, batch 1), including the Python runtime for ORT and TF;
- artifact size: .skiff, .onnx, and the .keras file.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PHOTO = os.path.join(ROOT, "fixtures", "images", "astronaut_q90_420.jpg")


def squeezenet11(input_shape=(227, 227, 3)):
    import keras
    from keras import layers as L

    def fire(x, s, e):
        x = L.Conv2D(s, 1, activation="relu")(x)
        return L.Concatenate()([L.Conv2D(e, 1, activation="relu")(x), L.Conv2D(e, 3, padding="same", activation="relu")(x)])

    i = keras.Input(input_shape)
    x = L.Conv2D(64, 3, strides=2, activation="relu")(i)
    x = L.MaxPooling2D(3, 2)(x)
    x = fire(x, 16, 64); x = fire(x, 16, 64)
    x = L.MaxPooling2D(3, 2)(x)
    x = fire(x, 32, 128); x = fire(x, 32, 128)
    x = L.MaxPooling2D(3, 2)(x)
    x = fire(x, 48, 192); x = fire(x, 48, 192); x = fire(x, 64, 256); x = fire(x, 64, 256)
    x = L.Conv2D(1000, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(i, L.Softmax()(x), name="squeezenet_1_1")


MODELS = {
    "mobilenet_v2_160": lambda k: k.applications.MobileNetV2(weights=None, input_shape=(160, 160, 3)),
    "mobilenet_v2_224": lambda k: k.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3)),
    "resnet50_224": lambda k: k.applications.ResNet50(weights=None, input_shape=(224, 224, 3)),
    "efficientnet_b0_224": lambda k: k.applications.EfficientNetB0(weights=None, input_shape=(224, 224, 3)),
    "squeezenet_1_1_227": lambda k: squeezenet11(),
}

ORT_WARM = r'''
import sys, time, json, numpy as np, onnxruntime as ort
path, batch, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
threads, runs = int(sys.argv[5]), int(sys.argv[6])
o = ort.SessionOptions(); o.intra_op_num_threads = threads; o.inter_op_num_threads = 1
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).uniform(-1, 1, (batch, h, w, 3)).astype("float32")
name = s.get_inputs()[0].name
for _ in range(3): s.run(None, {name: x})
t = []
for _ in range(runs):
    a = time.perf_counter(); s.run(None, {name: x}); t.append((time.perf_counter() - a) * 1000)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"times": t, "rss_mb": int(hwm) / 1024}))
'''

TF_WARM = r'''
import os, sys, time, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
tf.config.threading.set_intra_op_parallelism_threads(2); tf.config.threading.set_inter_op_parallelism_threads(1)
path, batch, h, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = keras.models.load_model(path, compile=False)
f = tf.function(lambda x: m(x, training=False))
x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (batch, h, w, 3)).astype("float32"))
for _ in range(3): f(x).numpy()
t = []
for _ in range(20):
    a = time.perf_counter(); f(x).numpy(); t.append((time.perf_counter() - a) * 1000)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"times": t, "rss_mb": int(hwm) / 1024}))
'''

ORT_COLD = r'''
import sys, numpy as np, onnxruntime as ort
from PIL import Image
path, photo, h, w = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
o = ort.SessionOptions(); o.intra_op_num_threads = 2
s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
x = np.asarray(Image.open(photo).convert("RGB").resize((w, h), Image.BILINEAR), dtype="float32")[None] / 127.5 - 1
p = s.run(None, {s.get_inputs()[0].name: x})[0][0]
print([int(i) for i in np.argsort(-p)[:5]])
'''

TF_COLD = r'''
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf, keras
path, photo, h, w = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
m = keras.models.load_model(path, compile=False)
x = tf.image.resize(tf.io.decode_jpeg(tf.io.read_file(photo), channels=3), (h, w))[None] / 127.5 - 1
p = m(x, training=False).numpy()[0]
print([int(i) for i in np.argsort(-p)[:5]])
'''


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)


def timed(cmd, n=3):
    ts = []
    for _ in range(n):
        a = time.perf_counter()
        run(cmd)
        ts.append((time.perf_counter() - a) * 1000)
    return sorted(ts)[n // 2]


def pct(times, q):
    t = sorted(times)
    return t[min(len(t) - 1, int(q * len(t)))]


def summary(times):
    return {"median": pct(times, 0.5), "p90": pct(times, 0.9), "min": min(times), "runs": len(times)}


class BusyLoop:
    """A process spinning on CPU 0 for the contention rows (what a shared Lambda core looks like)."""

    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, "-c", "import os\nos.sched_setaffinity(0, {0})\nwhile True: pass"])
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        self.p.kill()
        self.p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", default=os.path.join(ROOT, ".build", "release", "skiff"))
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--rounds", type=int, default=3, help="alternations of Skiff and ORT per table cell")
    ap.add_argument("--no-tf", action="store_true", help="skip TensorFlow (keeps the last TF figures in results.json)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    args = ap.parse_args()
    import keras
    import numpy as np
    results = json.load(open(args.out)) if os.path.exists(args.out) else {}
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")

    def skiff_times(spath, batch, threads, runs):
        out = run([args.skiff, "bench", spath, "--batch", str(batch), "--runs", str(runs), "--threads", str(threads),
                   "--json"], env=env).stdout
        return json.loads(out)

    def ort_times(onnx, batch, threads, runs, h, w):
        return json.loads(run([sys.executable, "-c", ORT_WARM, onnx, str(batch), str(h), str(w), str(threads), str(runs)]).stdout)

    def cell(spath, onnx, batch, threads, h, w):
        runs = 60 if batch == 1 else 12
        s, o = [], []
        for _ in range(args.rounds):
            s += skiff_times(spath, batch, threads, runs)["warmTimes"]
            o += ort_times(onnx, batch, threads, runs, h, w)["times"]
        return {"skiff": summary(s), "ort": summary(o)}

    with tempfile.TemporaryDirectory() as d:
        for name in args.models:
            keras.utils.set_random_seed(0)
            model = MODELS[name](keras)
            h, w = model.input_shape[1], model.input_shape[2]
            kpath, spath, ipath = [os.path.join(d, name + e) for e in (".keras", ".skiff", "_img.skiff")]
            model.save(kpath)
            run([args.skiff, "convert", "keras", kpath, "-o", spath])
            run([args.skiff, "convert", "keras", kpath, "-o", ipath, "--image", "auto", "--preprocess", "tf"])
            sm = os.path.join(d, name + "_sm")
            model.export(sm, verbose=False)
            onnx = os.path.join(d, name + ".onnx")
            run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", sm, "--output", onnx, "--opset", "17"])
            old = results.get(name, {})
            row = {"input": [h, w], "parameters": int(model.count_params()),
                   "float32_weight_bytes": int(sum(np.prod(v.shape) for v in model.weights) * 4),
                   "bytes": {"skiff": os.path.getsize(spath), "onnx": os.path.getsize(onnx), "keras": os.path.getsize(kpath)},
                   "engine": {}}
            for threads in (1, 2):
                for batch in (1, 8):
                    row["engine"][f"t{threads}_b{batch}"] = cell(spath, onnx, batch, threads, h, w)
                    print(name, threads, batch, json.dumps(row["engine"][f"t{threads}_b{batch}"]), flush=True)
            with BusyLoop():
                for threads in (1, 2):
                    row["engine"][f"busy_t{threads}_b1"] = cell(spath, onnx, 1, threads, h, w)
                    print(name, "busy", threads, json.dumps(row["engine"][f"busy_t{threads}_b1"]), flush=True)
            s = skiff_times(spath, 1, 2, 20)
            o = ort_times(onnx, 1, 2, 20, h, w)
            row["rss_mb"] = {"skiff": s["peakRSSMegabytes"], "ort": o["rss_mb"]}
            row["skiff_load_ms"] = s["loadMilliseconds"]
            row["cold_ms"] = {"skiff": timed([args.skiff, "predict", ipath, PHOTO, "--top", "5"]),
                              "ort": timed([sys.executable, "-c", ORT_COLD, onnx, PHOTO, str(h), str(w)])}
            if args.no_tf and "tf" in old:
                row["tf"] = old["tf"]
            elif not args.no_tf:
                t1 = json.loads(run([sys.executable, "-c", TF_WARM, kpath, "1", str(h), str(w)]).stdout)
                t8 = json.loads(run([sys.executable, "-c", TF_WARM, kpath, "8", str(h), str(w)]).stdout)
                row["tf"] = {"warm_ms_b1": pct(t1["times"], 0.5), "warm_ms_b8": pct(t8["times"], 0.5), "rss_mb": t1["rss_mb"],
                             "cold_ms": timed([sys.executable, "-c", TF_COLD, kpath, PHOTO, str(h), str(w)])}
            results[name] = row
            json.dump(results, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    main()
