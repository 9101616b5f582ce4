"""Closed-loop HTTP load on `skiff serve` with wrk (Debian's): a MobileNetV2 224×224 classifier (random weights),
each request POSTing one JPEG to /v1/models/mobilenet_v2:labels, at several connection counts below the
queue limit. Writes bench/serve_results.json; bench/report.py renders it. Not part of CI.

    apt-get install wrk; swift build -c release --static-swift-stdlib --product skiff
    /tmp/bench/bin/python bench/serve.py [--seconds 15]

TensorFlow Serving is not measured: its model server ships as a Docker image or Google's apt repository,
and this machine has neither a Docker engine nor that repository.
"""
import argparse
import json
import os
import re
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SKIFF = os.path.join(ROOT, ".build", "release", "skiff")
PHOTO = os.path.join(ROOT, "fixtures", "images", "astronaut_q90_420.jpg")

LUA = r'''
local f = assert(io.open("%s", "rb"))
local body = f:read("*all")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "image/jpeg"
'''


def ms(text):
    v, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(v) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", default="1,2,4,8,16")
    args = ap.parse_args()
    import keras
    work = tempfile.mkdtemp(prefix="skiff-serve-bench-")
    src = os.path.join(work, "mobilenet_v2.keras")
    keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3)).save(src)
    model = os.path.join(work, "mobilenet_v2.skiff")
    subprocess.run([SKIFF, "convert", "keras", src, "-o", model, "--image", "224x224", "--preprocess", "tf",
                    "--labels", os.path.join(ROOT, "recipes", "labels", "imagenet1000.txt")], check=True, stdout=subprocess.DEVNULL)
    lua = os.path.join(work, "post.lua")
    open(lua, "w").write(LUA % PHOTO)
    server = subprocess.Popen([SKIFF, "serve", model, "--port", "0", "--workers", "1", "--queue", "64"], stdout=subprocess.PIPE, text=True)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", server.stdout.readline()).group(1))
    url = f"http://127.0.0.1:{port}/v1/models/mobilenet_v2:labels"
    subprocess.run(["wrk", "-t1", "-c1", "-d3s", "-s", lua, url], check=True, stdout=subprocess.DEVNULL)  # warm-up
    rows = []
    for c in [int(x) for x in args.connections.split(",")]:
        out = subprocess.run(["wrk", f"-t{min(c, 2)}", f"-c{c}", f"-d{args.seconds}s", "--latency", "-s", lua, url],
                             check=True, capture_output=True, text=True).stdout
        pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        socket = re.search(r"Socket errors: (.*)", out)
        row = {"connections": c, "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
               "p50_ms": ms(pct["50"]), "p90_ms": ms(pct["90"]), "p99_ms": ms(pct["99"]),
               "non_2xx": int(errors.group(1)) if errors else 0, "socket_errors": socket.group(1) if socket else None,
               "requests": int(re.search(r"(\d+) requests in", out).group(1))}
        rows.append(row)
        print(row)
    server.terminate()
    server.wait(timeout=30)
    result = {"model": "MobileNetV2 224x224 (random weights), POST image/jpeg to :labels", "seconds_per_run": args.seconds,
              "cores": os.cpu_count(), "server": "skiff serve --workers 1 --queue 64", "rows": rows,
              "tensorflow_serving": "not run: needs Docker or Google's apt repository, neither available on this machine"}
    with open(os.path.join(HERE, "serve_results.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
