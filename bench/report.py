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


def mb(b):
    return f"{b / 2**20:.1f} MB"


def targets_section(results):
    """The issue's targets, evaluated on the fresh table."""
    out = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for name in ("mobilenet_v2_160", "resnet50_224"):
        if name in results:
            w = results[name]["warm_ms_b1"]
            r = w["skiff"] / w["ort"]
            out.append(f"| warm batch 1 ≤ ONNX Runtime ({name}) | {w['skiff']:.1f} vs {w['ort']:.1f} ms ({r:.2f}×) | {'yes' if r <= 1 else 'no'} |")
    if "mobilenet_v2_160" in results:
        row = results["mobilenet_v2_160"]
        c = row["cold_ms"]
        out.append(f"| cold start ≤ 0.2× ORT (mobilenet_v2_160) | {c['skiff']:.0f} vs {c['ort']:.0f} ms ({c['skiff'] / c['ort']:.2f}×) | {'yes' if c['skiff'] <= 0.2 * c['ort'] else 'no'} |")
        out.append(f"| cold start ≤ 0.02× TensorFlow (mobilenet_v2_160) | {c['skiff']:.0f} vs {c['tf']:.0f} ms ({c['skiff'] / c['tf']:.3f}×) | {'yes' if c['skiff'] <= 0.02 * c['tf'] else 'no'} |")
        limit = 2 * row["float32_weight_bytes"] / 1e6 + 30
        rss = row["rss_mb"]["skiff"]
        out.append(f"| peak RSS ≤ 2× float32 weights + 30 MB (mobilenet_v2_160) | {rss:.1f} MB vs {limit:.1f} MB | {'yes' if rss <= limit else 'no'} |")
    return out + [""]


def main():
    r = json.load(open(os.path.join(HERE, "results.json")))
    p = json.load(open(os.path.join(HERE, "precision_results.json")))
    out = ["# Benchmarks", "",
           f"Measured on one machine: {cpu()}, {os.cpu_count()} cores, Linux. Every engine uses 2 threads; the",
           "models have random weights (speed does not depend on their values). Regenerate with:", "",
           "```sh", "python3 -m venv /tmp/bench && /tmp/bench/bin/pip install -r bench/requirements.txt",
           "swift build -c release", "/tmp/bench/bin/python bench/compare.py      # → bench/results.json",
           "/tmp/bench/bin/python bench/precision.py    # → bench/precision_results.json (prints it; save it there)",
           "python3 bench/report.py                     # → docs/BENCHMARKS.md", "```", "",
           "Definitions: *warm* = median of 20 runs after warm-up, one process; *cold* = a new process that",
           "loads the model, decodes a JPEG, preprocesses, runs and prints the top-5 (`skiff predict` vs the",
           "same in Python with onnxruntime + PIL, and with TensorFlow), median of 3; *peak RSS* = VmHWM of the",
           "warm-latency process at batch 1 (ORT and TF include their Python runtime); ratios are Skiff ÷ other.", ""]
    for name, row in r.items():
        w1, w8, cold, rss, size = row["warm_ms_b1"], row["warm_ms_b8"], row["cold_ms"], row["rss_mb"], row["bytes"]
        out += [f"## {name} ({row['input'][0]}×{row['input'][1]}, {row['parameters'] / 1e6:.2f} M parameters, "
                f"{mb(row['float32_weight_bytes'])} float32 weights)", "",
                "| | Skiff | ONNX Runtime | TensorFlow | Skiff/ORT | Skiff/TF |", "|---|---:|---:|---:|---:|---:|"]
        for label, d, unit in [("warm latency, batch 1", w1, "ms"), ("warm latency, batch 8", w8, "ms"), ("cold start → top-5", cold, "ms"),
                               ("peak RSS", rss, "MB")]:
            out.append(f"| {label} | {d['skiff']:.1f} {unit} | {d['ort']:.1f} {unit} | {d['tf']:.1f} {unit} | "
                       f"{d['skiff'] / d['ort']:.2f} | {d['skiff'] / d['tf']:.3f} |")
        out.append(f"| artifact | {mb(size['skiff'])} (.skiff) | {mb(size['onnx'])} (.onnx) | {mb(size['keras'])} (.keras) | "
                   f"{size['skiff'] / size['onnx']:.2f} | {size['skiff'] / size['keras']:.2f} |")
        out += ["", f"Skiff load (open, validate, decompress, plan): {row['skiff_load_ms']:.0f} ms.", ""]
    out += targets_section(r)
    out += ["## Where Skiff's time goes, and what would close the gap", "",
            "`skiff bench MODEL --profile` splits warm time by op kind and names the slowest nodes; `perf record -e cpu-clock`",
            "(no hardware counters in this VM) attributes samples to functions. Batch 1, 2 threads, this machine. The VM's",
            "timings drift by ±30% within minutes, so before/after comparisons below alternate the two binaries over 5–8",
            "rounds (`bench/ab.sh`: median of the per-round medians):", "",
            "| change (this session) | MobileNetV2-160 | ResNet50-224 |", "|---|---:|---:|",
            "| before: GCD `concurrentPerform` per op, 4×16 micro-kernel, OpenBLAS's own threads | 9.0–9.9 ms | 74–108 ms |",
            "| persistent spinning worker pool (C, futex sleep after ~150 µs) | 6.4 ms | — |",
            "| 6×16 row-blocked micro-kernel, column split for few-row products | 5.2–6.7 ms | — |",
            "| zero `pad` fused into the following VALID convolution (optimizer) | 5.1–5.5 ms | — |",
            "| OpenBLAS single-threaded inside the pool's row/column blocks | 5.6–5.9 ms (noise) | 65.6 → 61.4 ms |", "",
            "The single most important finding: with GCD, two threads ran MobileNetV2-160 no faster than one (8.2 ms",
            "either way; `perf stat` showed ~80 context switches per inference and 1.27 CPUs used), while ONNX Runtime",
            "scales 5.1 → 2.9 ms. With the pool, Skiff's one-thread time is 8.2 ms and its two-thread time ~5 ms.", "",
            "`perf record -e cpu-clock -g` over 300 warm MobileNetV2-160 runs, share of all CPU samples on both cores:",
            "`skiff_gemm_avx2` 39%, `skiff_depthwise_avx2` 12%, OpenBLAS (`sgemm_itcopy/kernel_ZEN`, the K > 1024",
            "products) 6%, Swift-side convolution glue (im2col) 2%, and **31% waiting**: the pool worker spinning",
            "between jobs (23%) and the main thread spinning for the worker to finish its half (8.5%). The wait is",
            "serial work (ops under the parallel threshold, the dense head's single OpenBLAS call, per-node",
            "bookkeeping) plus uneven halves on small layers; splitting work finer than one chunk per thread",
            "(e.g. 4 per thread, claimed dynamically) and running the small ops on both cores would recover part of it.", "",
            "- **MobileNetV2-160 (target ≤ 1.0× ORT; 1.29× in the table above, was 2.59×).** Single-threaded Skiff is 1.6× ORT",
            "  (8.2 vs 5.1 ms): the",
            "  pointwise GEMMs read B (the weights) unpacked with a stride and broadcast A from 6 rows, where MLAS packs",
            "  weights once at load into panels and keeps activations in NCHWc blocks; the 1280×1000 head (5 MB of",
            "  weights, 0.4 ms) is memory-bound for both. To close it: pack every conv/dense weight into 16-column",
            "  panels at load (replacing, not duplicating, the decoded copy, so RSS does not grow), fuse the depthwise",
            "  3×3 into the following pointwise GEMM's A-panel build (one pass over each expanded activation instead of",
            "  a write and a read of 6× the block width), and an NCHWc-style blocked layout for the stem convolution",
            "  (im2col with K = 27 is ~0.3 ms).",
            "- **ResNet50 (target ≤ 1.0× ORT; 1.80× in the table run, 61 ms vs ORT's 51 ms in quieter interleaved runs).**",
            "  94% of the time is 3×3 and 1×1 convolutions in",
            "  OpenBLAS SGEMM on im2col patches (≈100 GFLOP/s on 2 cores, vs ≈160 for ONNX Runtime's direct NCHWc",
            "  kernels). The im2col copy of every 3×3 input (9× the activation) and the separate residual-add pass",
            "  (~4 ms) are the measurable losses. To close it: a direct NHWC 3×3 kernel over pre-packed weights and",
            "  residual add + relu fused into the producing convolution's epilogue.",
            "- **Cold start and RSS** (targets 0.2× ORT and 2× weights + 30 MB): process start alone is 24 ms and",
            "  28 MB RSS (`skiff --version`), of which the dynamic loader and HDF5/OpenBLAS initialisation take ~8 ms;",
            "  the 85 MB binary's pages are ~31 MB of RSS. A lean runtime executable without HDF5, protobuf-c, ZIP and",
            "  the serving stack (for `predict` and Lambda) is what would take the remaining step.", ""]
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
            "float32. The converter's self-check would keep the first and last kernels in float32 if top-1 agreement",
            "on its check inputs fell below 99% or cosine below 0.999; on this model it did not need to.", ""]
    out += lambda_section() + serve_section()
    open(os.path.join(ROOT, "docs", "BENCHMARKS.md"), "w").write("\n".join(out))
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
