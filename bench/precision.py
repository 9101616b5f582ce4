"""Weight precision on MobileNetV2: .skiff size against raw float32 weights, and drift against Keras.

Keras applications' pretrained weights cannot be downloaded here, so the network has Keras's initial
kernels with BatchNormalization statistics and biases randomised (as in fixtures/check_applications.py).
Inputs: 300 varied 224×224 images made from scikit-image's sample photographs (random crops of 30–100 %
of the area, horizontal flips, brightness ×0.6–1.4), normalised with x/127.5 − 1.

    swift build -c release && python3 bench/precision.py [--skiff .build/release/skiff] [--count 300]

`--photos` measures int8 on real photos instead: MobileNetV2-160 with a 120-class head (the dog-breed
shape) and an image signature (`--preprocess tf`), held-out JPEG photos (crops of the same sample photographs,
a different seed from the calibration photos), expected outputs from Keras on TensorFlow's decode and resize.
Three int8 files: no photo check (`--self-check 0`: every kernel int8), the default (Skiff's built-in photos)
and `--calibrate` with 16 photos of the user's; each with top-1 agreement and drift on the held-out photos.

    python3 bench/precision.py --photos [--stress] [--count 200]

`--stress` spreads the BatchNorm statistics over 1.5 decades per channel and sharpens the head (logits ×8),
closer to what a trained network's folded kernels look like than Keras's initial weights.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from skimage import data as samples  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
from check_applications import randomize_statistics  # noqa: E402


def varied_images(count, seed=0, size=(224, 224), normalise=True):
    r = np.random.default_rng(seed)
    photos = [samples.astronaut(), samples.coffee(), samples.chelsea(), samples.rocket(),
              np.stack([samples.camera()] * 3, -1), samples.immunohistochemistry(), samples.hubble_deep_field()]
    out = []
    for i in range(count):
        p = photos[i % len(photos)]
        h, w = p.shape[:2]
        area = r.uniform(0.3, 1.0)
        ch, cw = int(h * np.sqrt(area)), int(w * np.sqrt(area))
        y, x = r.integers(0, h - ch + 1), r.integers(0, w - cw + 1)
        crop = p[y:y + ch, x:x + cw].astype("float32")
        if r.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.clip(crop * r.uniform(0.6, 1.4), 0, 255)
        img = tf.image.resize(crop, size).numpy()
        out.append(img / 127.5 - 1 if normalise else img)
    return np.stack(out).astype("float32")


def write_photos(folder, count, seed, size=160):
    """`count` JPEG photos (quality 90) of varied crops; returns the paths, sorted as Skiff sorts them."""
    os.makedirs(folder, exist_ok=True)
    x = varied_images(count, seed=seed, size=(size + 64, size + 96), normalise=False)
    paths = []
    for i, img in enumerate(x):
        path = os.path.join(folder, f"photo_{i:04d}.jpg")
        tf.io.write_file(path, tf.io.encode_jpeg(tf.cast(tf.round(img), tf.uint8), quality=90))
        paths.append(path)
    return sorted(paths)


def stress(model, seed):
    """Statistics spread like a trained network's (per-channel BatchNorm scales over 1.5 decades, so folded
    kernels have channels of very different size) and a confident head (logits ×8)."""
    r = np.random.default_rng(seed)
    for w in model.weights:
        n, shape = w.path if hasattr(w, "path") else w.name, tuple(w.shape)
        if n.endswith("gamma"):
            w.assign((10 ** r.uniform(-0.75, 0.75, shape)).astype("float32"))
        elif "moving_variance" in n:
            w.assign((10 ** r.uniform(-1.5, 0.75, shape)).astype("float32"))
        elif n.endswith("predictions/kernel"):
            w.assign(w.numpy() * 8)


def photos_main(args):
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(160, 160, 3), classes=120)
    randomize_statistics(model, seed=0)
    if args.stress:
        stress(model, seed=0)
    raw = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "mobilenet_v2_160.h5")
        model.save(src)
        heldout = write_photos(os.path.join(d, "heldout"), args.count, seed=1)
        write_photos(os.path.join(d, "calibrate"), 16, seed=2)
        x = np.stack([tf.image.resize(tf.io.decode_jpeg(tf.io.read_file(p), channels=3, dct_method="INTEGER_FAST"),
                                      (160, 160)).numpy() / 127.5 - 1 for p in heldout]).astype("float32")
        y = np.concatenate([model.predict(x[i:i + 50], verbose=0) for i in range(0, len(x), 50)])
        np.save(os.path.join(d, "y.npy"), y)
        top = np.sort(y, axis=1)
        results = {"model": "MobileNetV2-160, 120 classes" + (", --stress" if args.stress else ""), "raw_float32_bytes": raw, "heldout_photos": args.count,
                   "median_top1_top2_margin": float(np.median(top[:, -1] - top[:, -2]))}
        variants = {"fp32": ["--precision", "fp32"], "int8, no photo check": ["--precision", "int8", "--self-check", "0"],
                    "int8, built-in photos": ["--precision", "int8"],
                    "int8, --calibrate 16 photos": ["--precision", "int8", "--calibrate", os.path.join(d, "calibrate")]}
        for name, flags in variants.items():
            out = os.path.join(d, "m.skiff")
            c = subprocess.run([args.skiff, "convert", "h5", src, "-o", out, "--preprocess", "tf", "--json"] + flags,
                               capture_output=True, text=True)
            if c.returncode != 0:
                sys.exit(f"convert {name} failed: {c.stderr}")
            summary = json.loads(c.stdout)
            v = subprocess.run([args.skiff, "verify", out, "--images", os.path.join(d, "heldout"), "--expected",
                                os.path.join(d, "y.npy"), "--json", "--atol", "1", "--top-k", "1"], capture_output=True, text=True)
            o = json.loads(v.stdout)["records"][0]["outputs"][0]
            check = (summary.get("verification") or [{}])[0]
            results[name] = {"file_vs_raw_float32": round(summary["fileBytes"] / raw, 4), "kept_float16": len(summary["keptFloat16"]),
                             "check": check.get("inputs"), "check_top1": (check.get("outputs") or [{}])[0].get("top_k_agreement"),
                             "heldout_top1_agreement": o["top_k_agreement"], "heldout_max_abs_drift": o["max_abs_error"],
                             "heldout_cosine": o["cosine"]}
            print(json.dumps({name: results[name]}), flush=True)
        print(json.dumps(results, indent=1))


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--skiff", default=".build/release/skiff")
    a.add_argument("--count", type=int, default=300)
    a.add_argument("--photos", action="store_true", help="int8 on held-out real photos through the image signature")
    a.add_argument("--stress", action="store_true", help="with --photos: trained-like spread of BatchNorm statistics, confident head")
    args = a.parse_args()
    if args.photos:
        return photos_main(args)
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    randomize_statistics(model, seed=0)
    raw = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "mobilenet_v2.h5")
        model.save(src)
        x = varied_images(args.count)
        y = np.concatenate([model.predict(x[i:i + 50], verbose=0) for i in range(0, len(x), 50)])
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "y.npy"), y)
        results = {"model": "MobileNetV2", "parameters": int(model.count_params()), "raw_float32_bytes": raw,
                   "source_h5_bytes": os.path.getsize(src), "inputs": args.count}
        for precision in ("fp32", "fp16", "int8"):
            out = os.path.join(d, f"m_{precision}.skiff")
            c = subprocess.run([args.skiff, "convert", "h5", src, "-o", out, "--precision", precision, "--json"],
                               capture_output=True, text=True, check=True)
            summary = json.loads(c.stdout)
            v = subprocess.run([args.skiff, "verify", out, "--input", os.path.join(d, "x.npy"), "--expected",
                                os.path.join(d, "y.npy"), "--json", "--atol", "1", "--top-k", "1"], capture_output=True, text=True)
            o = json.loads(v.stdout)["records"][0]["outputs"][0]
            results[precision] = {
                "file_bytes": summary["fileBytes"], "weights_vs_raw_float32": round(summary["storedTensorBytes"] / raw, 4),
                "file_vs_raw_float32": round(summary["fileBytes"] / raw, 4), "kept_float16": summary["keptFloat16"],
                "self_check": summary["verification"][0]["outputs"][0],
                "top1_agreement": o["top_k_agreement"], "max_abs_error": o["max_abs_error"], "cosine": o["cosine"]}
            print(json.dumps({precision: results[precision]}), flush=True)
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
