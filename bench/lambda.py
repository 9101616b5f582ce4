"""Lambda cold start and warm latency: Skiff's runtime (squeezenet recipe) vs the Python/TensorFlow handler
people write by hand (TensorFlow import + keras load_model + decode/resize/preprocess + predict), both driven
by the same Runtime API server on 127.0.0.1, on this machine. Not part of CI.

    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install -r bench/requirements.txt
    swift build -c release --static-swift-stdlib --product skiff
    /tmp/bench/bin/python bench/lambda.py          # writes bench/lambda_results.json; bench/report.py renders it

Cold start = process exec → first response posted to the Runtime API (init included: for Skiff, loading the
.skiff; for Python, importing TensorFlow and loading the .h5). Warm = event handed out → response posted,
median of 30 (API Gateway proxy events with a base64 JPEG body). Peak RSS is the process's VmHWM.
"""
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SKIFF = os.path.join(ROOT, ".build", "release", "skiff")
PHOTO = os.path.join(ROOT, "fixtures", "images", "astronaut_q90_420.jpg")
sys.path.insert(0, os.path.join(ROOT, "fixtures"))

PYTHON_HANDLER = r'''
import base64, json, os, sys, time, urllib.request
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
import keras
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
model = keras.models.load_model(sys.argv[1], compile=False)
labels = open(sys.argv[2]).read().split()
def handle(event):
    body = base64.b64decode(event["body"])
    x = tf.image.resize(tf.io.decode_jpeg(body, channels=3), (227, 227))
    x = keras.applications.imagenet_utils.preprocess_input(x.numpy()[None], mode="caffe")
    p = model.predict(x, verbose=0)[0]
    top = np.argsort(-p)[:5]
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"predictions": [{"label": labels[i], "score": float(p[i])} for i in top]})}
while True:
    r = urllib.request.urlopen(f"http://{api}/2018-06-01/runtime/invocation/next")
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    out = json.dumps(handle(json.loads(r.read()))).encode()
    urllib.request.urlopen(urllib.request.Request(f"http://{api}/2018-06-01/runtime/invocation/{rid}/response", data=out, method="POST")).read()
'''


class RuntimeAPI:
    """A Runtime API on 127.0.0.1 that hands out queued events and timestamps what comes back."""

    def __init__(self):
        self.events, self.posted, self.handed = [], {}, {}
        self.cv = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                with api.cv:
                    while not api.events:
                        api.cv.wait()
                    rid, body = api.events.pop(0)
                    api.handed[rid] = time.perf_counter()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                data = self.rfile.read(n)
                rid = self.path.split("/")[-2]
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with api.cv:
                    api.posted[rid] = (time.perf_counter(), data)
                    api.cv.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, rid, body):
        with self.cv:
            self.events.append((rid, body))
            self.cv.notify_all()

    def wait(self, rid, timeout=300):
        end = time.time() + timeout
        with self.cv:
            while rid not in self.posted:
                if time.time() > end:
                    raise TimeoutError(rid)
                self.cv.wait(0.5)
            return self.posted[rid]


def peak_rss_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None


def measure(cmd, env, event, cold_runs=5, warm_runs=30, cwd=None):
    colds, warms, rss = [], [], []
    for run in range(cold_runs):
        api = RuntimeAPI()
        api.invoke(f"cold{run}", event)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env={**os.environ, **env, "AWS_LAMBDA_RUNTIME_API": api.address}, cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t, body = api.wait(f"cold{run}")
        colds.append((t - start) * 1000)
        assert json.loads(body)["statusCode"] == 200, body[:200]
        if run == cold_runs - 1:
            for i in range(warm_runs):
                api.invoke(f"warm{i}", event)
                t, _ = api.wait(f"warm{i}")
                warms.append((t - api.handed[f"warm{i}"]) * 1000)
            rss.append(peak_rss_mb(proc.pid))
        proc.kill()
        proc.wait()
        api.server.shutdown()
    return {"cold_ms_median": statistics.median(colds), "cold_ms": colds, "warm_ms_median": statistics.median(warms),
            "warm_ms_p90": sorted(warms)[int(0.9 * len(warms)) - 1], "peak_rss_mb": rss[-1]}


def main():
    import keras
    from make_recipe_fixtures import squeezenet11
    work = tempfile.mkdtemp(prefix="skiff-lambda-bench-")
    h5 = os.path.join(work, "squeezenet.h5")
    keras.utils.set_random_seed(1)
    squeezenet11().save(h5)
    ctx = os.path.join(work, "ctx")
    subprocess.run([SKIFF, "package", "lambda", "--model", "squeezenet", "--from", h5, "--prebuilt", "-o", ctx], check=True)
    event = json.dumps({"httpMethod": "POST", "headers": {"Content-Type": "image/jpeg"},
                        "body": base64.b64encode(open(PHOTO, "rb").read()).decode(), "isBase64Encoded": True}).encode()
    env = {"LAMBDA_TASK_ROOT": ctx, "_HANDLER": "model.skiff"}
    skiff = measure([os.path.join(ctx, "runtime", "bootstrap")], env, event, cwd=ctx)
    handler = os.path.join(work, "handler.py")
    open(handler, "w").write(PYTHON_HANDLER)
    python = measure([sys.executable, handler, h5, os.path.join(ROOT, "recipes", "labels", "imagenet1000.txt")], {}, event, cold_runs=3)
    image_bytes = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(ctx, "runtime")) for f in fs)
    result = {"model": "SqueezeNet 1.1 (random weights), squeezenet recipe, 227x227", "machine_cores": os.cpu_count(),
              "skiff": skiff, "python_tensorflow": python,
              "skiff_runtime_bytes": image_bytes, "skiff_model_bytes": os.path.getsize(os.path.join(ctx, "model.skiff")),
              "h5_bytes": os.path.getsize(h5)}
    with open(os.path.join(HERE, "lambda_results.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
