"""skiff-runtime on a bare Lambda: stripped size, exec → first Lambda response, and peak RSS, for one model
(MobileNetV2 160×160 by default), against a minimal Runtime API server on 127.0.0.1 (bench/lambda.py's). Not
part of CI. Binaries are compared by alternating them run by run (this VM's speed drifts; see bench/ab.sh).

    swift build -c release --product skiff && swift build -c release --product skiff-runtime
    python3 bench/runtime.py --make-model                     # MobileNetV2-160 .h5 (TensorFlow from /opt/tfenv) → .skiff
    python3 bench/runtime.py --runs 20 .build/release/skiff-runtime "skiff lambda=.build/release/skiff lambda"
    python3 bench/runtime.py --phases --runs 10 .build/release/skiff-runtime   # where the first response's time goes

A binary argument is `PATH` or `LABEL=COMMAND…` (the model path is appended). Exec → first response is the
time from Popen to the first response posted to the Runtime API (process start, dynamic loading, model load and
plan, JPEG decode, inference, reply). Peak RSS is the process's VmHWM right after that first response. Writes
bench/runtime_results.json; the numbers go into docs/BENCHMARKS.md by hand.
"""
import argparse
import base64
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
RuntimeAPI = importlib.import_module("lambda").RuntimeAPI  # bench/lambda.py ("lambda" is a keyword, hence import_module)
peak_rss_mb = importlib.import_module("lambda").peak_rss_mb
WORK = os.environ.get("SKIFF_BENCH_DIR", "/tmp/skiff-bench")
MODEL = os.path.join(WORK, "mobilenet_v2_160.skiff")
PHOTO = os.path.join(ROOT, "fixtures", "images", "astronaut_q90_420.jpg")

MAKE_MODEL = r'''
import sys, numpy as np, keras
keras.utils.set_random_seed(0)
m = keras.applications.MobileNetV2(weights=None, input_shape=(160, 160, 3))
# Random but non-degenerate: batch-norm statistics away from (0, 1), so activations differ per class.
rng = np.random.default_rng(0)
for layer in m.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
        g, b, mean, var = layer.get_weights()
        layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape), rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
m.save(sys.argv[1])
'''


def make_model(skiff, python):
    os.makedirs(WORK, exist_ok=True)
    h5 = os.path.join(WORK, "mobilenet_v2_160.h5")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([python, "-c", MAKE_MODEL, h5], check=True, env=env)
    subprocess.run([skiff, "convert", "h5", h5, "-o", MODEL, "--image", "auto", "--preprocess", "tf"], check=True)
    print(f"wrote {MODEL} ({os.path.getsize(MODEL) / 1e6:.1f} MB)")


def stripped_size(path):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "b")
        subprocess.run(["strip", "-o", out, path], check=True)
        return os.path.getsize(out)


def parse(spec):
    label, _, command = spec.partition("=") if "=" in spec else (spec, "", spec)
    return label, command.split()


def one_run(command, model, event, split=False):
    """Exec → first response (ms) and peak RSS (MB); with `split`, also the runtime's own log of it: (start → init,
    `init_ms`, the request's `ms`), from its init and request lines."""
    api = RuntimeAPI()
    api.invoke("cold", event)
    start = time.perf_counter()
    proc = subprocess.Popen(command + [model], env={**os.environ, "AWS_LAMBDA_RUNTIME_API": api.address},
                            stdout=subprocess.PIPE if split else subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if split:
            init = json.loads(proc.stdout.readline())
            t_init = time.perf_counter()
        t, body = api.wait("cold", timeout=120)
        reply = json.loads(body)
        assert reply["statusCode"] == 200, body[:300]
        rss = peak_rss_mb(proc.pid)
        log = ((t_init - start) * 1000 - init["init_ms"], init["init_ms"], json.loads(proc.stdout.readline())["ms"]) if split else None
    finally:
        proc.kill()
        proc.wait()
        api.server.shutdown()
    return (t - start) * 1000, rss, log


def phases(command, model, event, runs):
    """Splits exec → first response by the runtime's own log: until its init line minus `init_ms` (process start
    and runtime setup), `init_ms` (model load), the request's `ms` (decode, preprocess, first inference), and the
    rest (the Runtime API round trips and the reply reaching the server)."""
    rows = []
    for _ in range(runs):
        total, _, (before, init, request) = one_run(command, model, event, split=True)
        rows.append((total, before, init, request, total - before - init - request))
    for i, name in enumerate(["exec → first response", "start → init", "init (model load)", "first request", "Runtime API round trips"]):
        v = sorted(r[i] for r in rows)
        print(f"{name:24s} median {statistics.median(v):6.1f} ms  min {v[0]:6.1f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="*")
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--make-model", action="store_true")
    ap.add_argument("--phases", action="store_true", help="split the first response's time by the runtime's log, per binary")
    ap.add_argument("--skiff", default=os.path.join(ROOT, ".build", "release", "skiff"))
    ap.add_argument("--python", default="/opt/tfenv/bin/python")
    ap.add_argument("--out", default=os.path.join(HERE, "runtime_results.json"))
    args = ap.parse_args()
    if args.make_model:
        make_model(args.skiff, args.python)
    if not args.binaries:
        return
    event = json.dumps({"httpMethod": "POST", "path": "/predict", "headers": {"Content-Type": "image/jpeg"},
                        "isBase64Encoded": True, "body": base64.b64encode(open(PHOTO, "rb").read()).decode()}).encode()
    specs = [parse(b) for b in args.binaries]
    if args.phases:
        for label, command in specs:
            print(label)
            phases(command, args.model, event, args.runs)
        return
    for label, command in specs:
        one_run(command, args.model, event)  # warm the page cache
    times = {label: [] for label, _ in specs}
    rss = {label: [] for label, _ in specs}
    for _ in range(args.runs):
        for label, command in specs:
            ms, mb, _ = one_run(command, args.model, event)
            times[label].append(ms)
            rss[label].append(mb)
    results = {"model": os.path.basename(args.model), "model_bytes": os.path.getsize(args.model), "runs": args.runs, "binaries": {}}
    for label, command in specs:
        exe = shutil.which(command[0]) or command[0]
        t = sorted(times[label])
        results["binaries"][label] = {
            "command": " ".join(command), "stripped_bytes": stripped_size(exe),
            "first_response_ms_median": statistics.median(t), "first_response_ms_min": t[0],
            "first_response_ms_p90": t[max(0, int(0.9 * len(t)) - 1)], "peak_rss_mb_median": statistics.median(rss[label]),
            "peak_rss_mb_max": max(rss[label])}
        r = results["binaries"][label]
        print(f"{label}: stripped {r['stripped_bytes'] / 1e6:.1f} MB; exec → first response median {r['first_response_ms_median']:.1f} ms "
              f"(min {r['first_response_ms_min']:.1f}, p90 {r['first_response_ms_p90']:.1f}); peak RSS {r['peak_rss_mb_median']:.1f} MB "
              f"(max {r['peak_rss_mb_max']:.1f})")
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
