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
    out += ["## Where Skiff's time goes, and what would close the gap", "",
            "`skiff bench MODEL --profile` splits warm time by op kind and names the slowest nodes. Measured at batch 1,",
            "2 threads, on this machine (this VM's timings vary by ±15% between identical runs):", "",
            "| model | conv2d | depthwise | dense | everything else | total |", "|---|---:|---:|---:|---:|---:|",
            "| MobileNetV2 160 | 5.0 ms | 1.4 ms | 0.7 ms | 0.5 ms | 7.5 ms |",
            "| EfficientNetB0 224 | 8.9 ms | 3.0 ms | 0.6 ms | 3.5 ms (1.5 ms SE multiplies, 0.9 ms pads) | 16.0 ms |",
            "| ResNet50 224 | 74–95 ms | — | 1.1 ms | 4.5 ms (3.7–4.7 ms residual adds) | 80–100 ms |", "",
            "What changed the most, measured: the relu/relu6 epilogue was first written with generic `SIMD8<Float>`",
            "methods that Swift did not specialise; moving it (and the clamp op) into the C kernels' stores took",
            "MobileNetV2-160 from 20.6 to 9.0 ms, and the AVX2/FMA micro-kernel for short-K GEMMs (pointwise",
            "convolutions) plus the AVX2 depthwise kernel to 7.5 ms. Large products stay in OpenBLAS (through the",
            "micro-kernel ResNet50 took 114 ms instead of ~80). EfficientNetB0's swish epilogues were scalar `exp`",
            "calls; an AVX2 sigmoid/swish (range-reduced polynomial exp, ~1e-7 relative error) took it from 42.6 to",
            "16.0 ms, and a fast path for squeeze-and-excite broadcasts took batch 8 from 2180 to ~300 ms.", "",
            "- **Large convolutions (ResNet50).** OpenBLAS SGEMM on im2col patches reaches ~50 GFLOP/s on 2 cores;",
            "  ONNX Runtime's MLAS runs NCHWc direct convolutions without the im2col copy and with the epilogue fused.",
            "  To close it: a direct NHWC 3×3 kernel (no im2col), weights pre-packed into GEMM panels at load, and the",
            "  bias/activation/residual epilogue fused for the OpenBLAS path too (today a second pass).",
            "- **Residual adds** (ResNet50: ~4 ms) are separate passes; fusing them into the producing convolution (an",
            "  optional residual input on `conv2d` in the IR) removes a read and a write of every block output.",
            "- **Small models (MobileNetV2).** The remaining 2× to ONNX Runtime is spread across 50+ small ops: per-op",
            "  dispatch and thread hand-off (`DispatchQueue.concurrentPerform` per op), im2col for the stem, and a",
            "  4×16 micro-kernel that does not use the full register file. A persistent spinning worker pool and a",
            "  6×16 kernel are the next steps.",
            "- **Cold start** is mostly load: software CRC-32C over the whole file, zstd decompression and unshuffling",
            "  of every tensor, then the first run. Storing large float32 tensors uncompressed (mmap, no copy) and a",
            "  hardware CRC-32C (SSE4.2) would cut most of it, at the cost of ~17% larger files.",
            "- **Peak RSS** counts the decoded weights once plus the Swift runtime, OpenBLAS buffers and the buffer pool;",
            "  the file mapping is released after decoding. Zero-copy weights (stored uncompressed) would remove the",
            "  decoded copy.", ""]
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
