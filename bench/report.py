"""Writes docs/BENCHMARKS.md from bench/results.json (bench/compare.py) and bench/precision_results.json
(bench/precision.py). Plain Python, no third-party packages."""
import json
import os
import platform

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


MARKER = "<!-- Written by hand from here on; bench/report.py keeps it. -->"


def mb(b):
    return f"{b / 2**20:.1f} MB"


CELLS = [("t1_b1", "1 thread, batch 1"), ("t1_b8", "1 thread, batch 8"), ("t2_b1", "2 threads, batch 1"),
         ("t2_b8", "2 threads, batch 8"), ("busy_t1_b1", "busy core, 1 thread, batch 1"), ("busy_t2_b1", "busy core, 2 threads, batch 1")]


def engine_table(row):
    out = ["| warm latency | Skiff median | Skiff p90 | ORT median | ORT p90 | Skiff/ORT |", "|---|---:|---:|---:|---:|---:|"]
    for key, label in CELLS:
        c = row["engine"].get(key)
        if c:
            s, o = c["skiff"], c["ort"]
            out.append(f"| {label} | {s['median']:.2f} ms | {s['p90']:.2f} ms | {o['median']:.2f} ms | {o['p90']:.2f} ms | "
                       f"{s['median'] / o['median']:.2f} |")
    return out


def targets_section(results):
    """The engine issue's targets, evaluated on the fresh table."""
    out = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name, row in results.items():
        e = row.get("engine", {})
        ratios = {k: e[k]["skiff"]["median"] / e[k]["ort"]["median"] for k in ("t1_b1", "t1_b8", "t2_b1", "t2_b8") if k in e}
        if ratios:
            text = ", ".join(f"{k.replace('_', ' ')} {v:.2f}×" for k, v in ratios.items())
            out.append(f"| {name}: warm ≤ 0.8× ORT | {text} | {'yes' if max(ratios.values()) <= 0.8 else 'no'} |")
    for name, row in results.items():
        e = row.get("engine", {})
        worst = max(((e[k]["skiff"]["p90"] / e[k]["skiff"]["median"], k) for k in ("t1_b1", "t1_b8", "t2_b1", "t2_b8") if k in e), default=None)
        if worst:
            out.append(f"| {name}: p90 ≤ 1.25× median (uncontended) | worst {worst[0]:.2f}× ({worst[1].replace('_', ' ')}) | {'yes' if worst[0] <= 1.25 else 'no'} |")
        if "busy_t1_b1" in e and "busy_t2_b1" in e:
            one, two = e["busy_t1_b1"]["skiff"], e["busy_t2_b1"]["skiff"]
            ok = two["median"] <= one["median"] * 1.02 and two["p90"] <= one["p90"] * 1.05
            out.append(f"| {name}: busy core, 2 threads no worse than 1 | median {two['median']:.2f} vs {one['median']:.2f} ms, "
                       f"p90 {two['p90']:.2f} vs {one['p90']:.2f} ms | {'yes' if ok else 'no'} |")
    if "mobilenet_v2_160" in results:
        load = results["mobilenet_v2_160"]["skiff_load_ms"]
        out.append(f"| load ≤ 15 ms (mobilenet_v2_160) | {load:.1f} ms | {'yes' if load <= 15 else 'no'} |")
    return out + ["", "(\"no worse\" allows 2% on the median and 5% on p90: the two rows are separate processes on a VM whose speed drifts.)", ""]


def photos_section():
    """int8 judged on held-out photos through the image signature (`bench/precision.py --photos [--stress]`)."""
    path = os.path.join(HERE, "precision_photos_results.json")
    if not os.path.exists(path):
        return []
    runs = json.load(open(path))
    out = ["### int8 on real photos (`bench/precision.py --photos`, `--photos --stress`)", "",
           "MobileNetV2-160 with a 120-class head (the dog-breed shape), `--preprocess tf`; 200 held-out JPEG photos "
           "(crops of scikit-image's sample photographs, another seed than the 16 `--calibrate` photos); expected "
           "outputs from Keras on TensorFlow's decode and resize. *plain*: Keras's initial kernels with randomised "
           "BatchNormalization statistics (near-uniform probabilities); *stress*: per-channel BatchNorm scales "
           "spread over 1.5 decades and the head's logits ×8 (confident answers). Check = the photos `convert` "
           "judged the file on; kept = int8 kernels it kept at float16.", "",
           "| model | file | ÷ raw float32 | check | check top-1 | kept | held-out top-1 | held-out max drift | cosine |",
           "|---|---|---:|---|---:|---:|---:|---:|---:|"]
    for label, r in runs.items():
        for k in ("fp32", "int8, no photo check", "int8, built-in photos", "int8, --calibrate 16 photos"):
            v = r[k]
            check = (v["check"] or "none").split(" (sha256")[0].replace("self-check: ", "")
            top = "—" if v["check_top1"] is None else f"{v['check_top1'] * 100:.1f}%"
            out.append(f"| {label} (margin {r['median_top1_top2_margin']:.4f}) | {k} | {v['file_vs_raw_float32']:.3f} | {check} | {top} | "
                       f"{v['kept_float16']} | {v['heldout_top1_agreement'] * 100:.1f}% | {v['heldout_max_abs_drift']:.2e} | {v['heldout_cosine']:.6f} |")
    out += ["", "Neither proxy reproduces the issue's real dog-breed model (1 of 5 photos changed top-1 at int8): on both, every",
            "int8 variant agrees on all 200 held-out photos at 0.26× and nothing needs keeping. A stronger spread (BatchNorm",
            "scales over two decades) made the network itself unstable — Skiff's float32 agreed with Keras on only 76.5% of",
            "the photos, so it measures float noise, not int8 — and is not in the table. That `convert` finds and keeps the",
            "kernels that do change answers is shown on a constructed near-tie (`CalibrationTests`: all-int8 changes the",
            "top class of some inputs; ranking by changed answers keeps exactly the one kernel responsible at float16; ranking",
            "by largest output drift alone picked the wrong kernel first, which is why answers come first). Scales chosen by",
            "squared error instead of max|w| were tried and dropped: over 20 clipping points per channel, the max scale had",
            "the least error for Gaussian, Student-t (3, 2 and 1 degrees of freedom) and Laplace channels of 9 to 1,280",
            "weights — at 255 levels the clipped outlier costs more than the finer steps save.", ""]
    return out


def main():
    r = json.load(open(os.path.join(HERE, "results.json")))
    p = json.load(open(os.path.join(HERE, "precision_results.json")))
    out = ["# Benchmarks", "",
           f"Measured on one machine: {cpu()}, {os.cpu_count()} cores, Linux. The models have random weights (speed",
           "does not depend on their values). Regenerate with:", "",
           "```sh", "python3 -m venv /tmp/bench && /tmp/bench/bin/pip install -r bench/requirements.txt",
           "swift build -c release --product skiff", "/tmp/bench/bin/python bench/compare.py      # → bench/results.json (~15 min)",
           "/tmp/bench/bin/python bench/precision.py    # → bench/precision_results.json (prints it; save it there)",
           "python3 bench/report.py                     # → the generated part of docs/BENCHMARKS.md", "```", "",
           "Definitions: *warm* = one process per engine and round, warm-up then 60 timed runs (batch 1) or 12",
           "(batch 8); Skiff and ONNX Runtime (same thread count, `intra_op_num_threads`) alternate over 3 rounds and",
           "median and p90 are over all the rounds' runs. *Busy core* = the same with a Python busy loop pinned to CPU 0",
           "for the whole row (started and stopped by the benchmark). *Cold* = a new process that loads the model,",
           "decodes a JPEG, preprocesses, runs and prints the top-5 (`skiff predict` vs the same in Python with",
           "onnxruntime + PIL, and with TensorFlow), median of 3. *Peak RSS* = VmHWM of a warm-latency process (2 threads,",
           "batch 1; ORT and TF include their Python runtime). TensorFlow: 2 threads, median of 20 runs, one process.", ""]
    for name, row in r.items():
        cold, rss, size, tf = row["cold_ms"], row["rss_mb"], row["bytes"], row.get("tf", {})
        out += [f"## {name} ({row['input'][0]}×{row['input'][1]}, {row['parameters'] / 1e6:.2f} M parameters, "
                f"{mb(row['float32_weight_bytes'])} float32 weights)", ""]
        out += engine_table(row)
        out += ["", "| | Skiff | ONNX Runtime | TensorFlow | Skiff/ORT | Skiff/TF |", "|---|---:|---:|---:|---:|---:|"]
        e = row["engine"]
        for label, sk, ort, t, unit in [("warm, 2 threads, batch 1", e["t2_b1"]["skiff"]["median"], e["t2_b1"]["ort"]["median"], tf.get("warm_ms_b1"), "ms"),
                                        ("warm, 2 threads, batch 8", e["t2_b8"]["skiff"]["median"], e["t2_b8"]["ort"]["median"], tf.get("warm_ms_b8"), "ms"),
                                        ("cold start → top-5", cold["skiff"], cold["ort"], tf.get("cold_ms"), "ms"),
                                        ("peak RSS", rss["skiff"], rss["ort"], tf.get("rss_mb"), "MB")]:
            tft = f"{t:.1f} {unit}" if t else "—"
            tfr = f"{sk / t:.3f}" if t else "—"
            out.append(f"| {label} | {sk:.1f} {unit} | {ort:.1f} {unit} | {tft} | {sk / ort:.2f} | {tfr} |")
        out.append(f"| artifact | {mb(size['skiff'])} (.skiff) | {mb(size['onnx'])} (.onnx) | {mb(size['keras'])} (.keras) | "
                   f"{size['skiff'] / size['onnx']:.2f} | {size['skiff'] / size['keras']:.2f} |")
        out += ["", f"Skiff load (open, validate, decompress, plan): {row['skiff_load_ms']:.0f} ms.", ""]
    out += targets_section(r)
    out += ["## Weight precision (MobileNetV2 224×224, `bench/precision.py`)", "",
            f"{p['parameters'] / 1e6:.2f} M parameters, {mb(p['raw_float32_bytes'])} raw float32 weights, source .h5 {mb(p['source_h5_bytes'])}. "
            f"Drift against Keras on {p['inputs']} varied 224×224 images (random crops, flips and brightness changes of "
            "scikit-image's sample photographs). Kernels are Keras's initialisation with randomised BatchNormalization "
            "statistics and biases (pretrained weights cannot be downloaded here), so class probabilities are close "
            "together: a harder test of top-1 stability than a confident trained model, but not a substitute for one.", "",
            "| precision | .skiff file | weights ÷ raw float32 | top-1 agreement | max abs error (probabilities) | cosine | target |",
            "|---|---:|---:|---:|---:|---:|---|"]
    targets = {"fp32": "≤ 0.86×, lossless", "fp16": "≤ 0.45×, top-1 100%", "int8": "≤ 0.28×, top-1 ≥ 99%"}
    for k in ("fp32", "fp16", "int8"):
        v = p[k]
        out.append(f"| {k} | {mb(v['file_bytes'])} | {v['weights_vs_raw_float32']:.3f} | {v['top1_agreement'] * 100:.1f}% | "
                   f"{v['max_abs_error']:.2e} | {v['cosine']:.7f} | {targets[k]} |")
    out += ["", "int8 quantises conv/dense kernels with ≥ 256 values per output channel; biases and small tensors stay",
            "float32; int8 weights are dequantised to float32 once, at load. These files have no image signature, so",
            "`convert` checked them on random inputs; a model with one is checked on photos (below).", ""]
    out += photos_section()
    out += lambda_section() + serve_section()
    # Everything from the marker on is written by hand (profiles, what was tried) and kept as it is.
    path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    old = open(path).read() if os.path.exists(path) else ""
    kept = old[old.index(MARKER):] if MARKER in old else MARKER + "\n"
    open(path, "w").write("\n".join(out) + "\n" + kept)
    print("wrote docs/BENCHMARKS.md")


def lambda_section():
    path = os.path.join(HERE, "lambda_results.json")
    if not os.path.exists(path):
        return []
    r = json.load(open(path))
    s, t = r["skiff"], r["python_tensorflow"]
    return ["## Lambda runtime: squeezenet recipe", "",
            f"{r['model']}. Both runtimes answer API Gateway proxy events (base64 JPEG body) from the same Runtime API",
            "server on 127.0.0.1: Skiff's runtime through the `--prebuilt` context's entrypoint, and the Python handler",
            "people write today (import TensorFlow, `keras.models.load_model` on the .h5, `tf.io.decode_jpeg`, resize,",
            "caffe preprocessing, `model.predict`). Cold = exec → first response posted (init included); warm = event",
            "handed out → response posted. Regenerate: `/tmp/bench/bin/python bench/lambda.py && python3 bench/report.py`.", "",
            "| | Skiff runtime | Python + TensorFlow | Skiff ÷ Python |",
            "|---|---:|---:|---:|",
            f"| cold start (median) | {s['cold_ms_median']:.0f} ms | {t['cold_ms_median']:.0f} ms | {s['cold_ms_median'] / t['cold_ms_median']:.3f}× |",
            f"| warm latency (median) | {s['warm_ms_median']:.1f} ms | {t['warm_ms_median']:.1f} ms | {s['warm_ms_median'] / t['warm_ms_median']:.2f}× |",
            f"| warm latency (p90) | {s['warm_ms_p90']:.1f} ms | {t['warm_ms_p90']:.1f} ms | |",
            f"| peak RSS | {s['peak_rss_mb']:.0f} MB | {t['peak_rss_mb']:.0f} MB | {s['peak_rss_mb'] / t['peak_rss_mb']:.2f}× |",
            f"| model artifact | {mb(r['skiff_model_bytes'])} .skiff | {mb(r['h5_bytes'])} .h5 | |", "",
            f"The Skiff image's runtime folder (binary with static Swift runtime + the C libraries it links) is "
            f"{mb(r['skiff_runtime_bytes'])} (stripped binary); a Python/TensorFlow image is typically 600 MB+.", ""]


def serve_section():
    path = os.path.join(HERE, "serve_results.json")
    if not os.path.exists(path):
        return []
    r = json.load(open(path))
    out = ["## `skiff serve` under load", "",
           f"{r['model']}; `{r['server']}`; wrk (Debian) on the same {r['cores']}-core machine, closed loop,",
           f"{r['seconds_per_run']} s per row. Regenerate: `/tmp/bench/bin/python bench/serve.py && python3 bench/report.py`.", "",
           "| connections | requests/s | p50 | p90 | p99 | requests | errors |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["rows"]:
        out.append(f"| {row['connections']} | {row['requests_per_s']:.1f} | {row['p50_ms']:.1f} ms | {row['p90_ms']:.1f} ms | "
                   f"{row['p99_ms']:.1f} ms | {row['requests']} | {row['non_2xx']} |")
    out += ["", "Throughput is flat from one connection up: one worker runs the engine (which already uses both cores), and",
            "requests beyond it wait in the bounded queue, so latency grows linearly with concurrency while no request",
            "fails below the queue limit. wrk itself shares the two cores. TensorFlow Serving: " + r["tensorflow_serving"] + ".", ""]
    return out


if __name__ == "__main__":
    main()
