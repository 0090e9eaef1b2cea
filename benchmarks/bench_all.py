"""The benchmark table: the seed's pipeline beside the project's, measured in the same run.

Run with ``make bench`` (or ``python benchmarks/bench_all.py [--quick]``). Writes
``reports/benchmarks.json`` and ``reports/benchmarks.md`` (the README includes the table).

The seed's pipeline is the seed's model (``models/seed_cnn``, the seed architecture and recipe)
called with ``model.predict`` per image behind the naive path (grayscale, resize to 28x28, invert
if light). The project's is ``digitlib.Recognizer``: the default model on ONNX Runtime behind the
OpenCV pipeline, the calibration and the "is it a digit" gate. Where a figure has a theoretical
floor it is stated beside it: for batch inference, the model's floating-point operations per
image over this CPU's measured matrix-multiply peak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

import bench_uploads  # noqa: E402

from digitlib import config, corruptions, data, robustness, synth  # noqa: E402
from digitlib.errors import InvalidImageError, NoDigitFoundError  # noqa: E402
from digitlib.recognizer import Recognizer  # noqa: E402


def model_flops(model) -> int:
    """Floating-point operations (2 per multiply-add) for one image through ``model``."""
    import keras

    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            k_h, k_w = layer.kernel_size
            flops += 2 * out[1] * out[2] * out[3] * k_h * k_w * layer.input.shape[-1]
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * layer.input.shape[-1] * layer.units
    return int(flops)


def peak_gflops(seconds: float = 2.0) -> dict:
    """This CPU's float32 matrix-multiply rate on every core: NumPy's BLAS and ONNX Runtime's own
    GEMM (the faster is the practical peak that inference can approach)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    size = 1024
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)

    def rate(function) -> float:
        function()
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            function()
            runs += 1
        return runs * 2 * size**3 / (time.perf_counter() - start) / 1e9

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])],
        [helper.make_tensor("w", TensorProto.FLOAT, [size, size], a.ravel())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx.checker.check_model(model)
    rates = {"numpy": rate(lambda: a @ a), "onnxruntime": rate(lambda: session.run(None, {"x": a}))}
    rates["peak"] = max(rates.values())
    return rates


def training_throughput(mnist: data.MNIST, images: int) -> dict:
    """Training images per second for the seed's recipe and the default recipe, one after the
    other on the same data (augmentation included, as in real training)."""
    import keras

    from digitlib import augment, model, pipeline

    default_augment = augment.AugmentConfig.from_dict(
        pipeline.load_params("default")["augment_settings"]
    )
    recipes = {
        "seed": ("seed", augment.SEED_AUGMENT, 64),
        "default": ("default", default_augment, 128),
    }
    out = {}
    for name, (architecture, augmentation, batch) in recipes.items():
        keras.utils.set_random_seed(0)
        network = model.build(architecture)
        network.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy"
        )
        dataset = augment.make_dataset(
            mnist.x_train[:images], mnist.y_train[:images], batch, augmentation, shuffle=True
        )
        network.fit(dataset.take(3), verbose=0)  # build and warm up
        start = time.perf_counter()
        network.fit(dataset, verbose=0)
        seconds = time.perf_counter() - start
        out[name] = {"images_per_second": (images // batch) * batch / seconds, "batch": batch}
        print(f"training {name}: {out[name]['images_per_second']:.0f} images/s", flush=True)
    return out


def time_to_accuracy(target: float = 0.99) -> dict:
    """From the recorded pipeline runs (reports/history_*.json): seconds of training until the
    validation accuracy first reached ``target``, and the whole run."""
    out = {}
    for name in ("seed_cnn", "digit_cnn"):
        path = config.REPORTS_DIR / f"history_{name}.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        history = record["history"]
        times = np.cumsum(record.get("epoch_seconds") or history.get("epoch_seconds", []))
        reached = [i for i, acc in enumerate(history["val_accuracy"]) if acc >= target]
        out[name] = {
            "target": target,
            "seconds_to_target": float(times[reached[0]]) if reached and len(times) else None,
            "run_seconds": float(times[-1]) if len(times) else None,
            "epochs": len(history["val_accuracy"]),
        }
        # A model trained in stages: this history is the fine-tune of an already trained stage 1
        # (its model card has the stages and their total time), not a run from scratch.
        card_path = config.MODELS_DIR / f"{name}.json"
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        if "clean" in card.get("stages", {}):
            out[name]["stages"] = 3 if "uploads" in card["stages"] else 2
            out[name]["all_stages_seconds"] = card["total_train_seconds"]
    return out


def start_up(repeats: int) -> dict:
    """A fresh process, from start to its first answer on one photo, and its peak memory."""
    photo = config.DATA_DIR / "samples" / "photo-7.jpg"
    programs = {
        "digitlib": (
            "from digitlib import Recognizer; "
            f"print(Recognizer.load().predict({str(photo)!r}).digit)"
        ),
        "seed": (
            "import cv2, keras, numpy as np; "
            f"m = keras.models.load_model({str(config.SEED_MODEL)!r}); "
            f"g = cv2.imread({str(photo)!r}, cv2.IMREAD_GRAYSCALE); "
            "x = cv2.resize(g, (28, 28)).astype('float32') / 255; "
            "x = 1 - x if x.mean() > 0.5 else x; "
            "print(int(m.predict(x[None, ..., None], verbose=0).argmax()))"
        ),
    }
    wrapper = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "r = subprocess.run([sys.executable, '-c', sys.argv[1]], capture_output=True, text=True); "
        "print(time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.stdout.strip())"
    )
    out = {}
    for name, program in programs.items():
        runs = []
        for _ in range(repeats):
            line = subprocess.run(
                [sys.executable, "-c", wrapper, program], capture_output=True, text=True
            ).stdout.split()
            runs.append((float(line[0]), float(line[1]), line[2] if len(line) > 2 else ""))
        out[name] = {
            "seconds": statistics.median(r[0] for r in runs),
            "peak_rss_mb": max(r[1] for r in runs),
            "answer": runs[-1][2],
        }
        print(f"start-up {name}: {out[name]}", flush=True)
    return out


def naive_digits(seed_model: Recognizer, images: np.ndarray) -> np.ndarray:
    """The seed's path on 28x28 digits: straight to its network (the naive resize is a no-op)."""
    return robustness.raw_digits(seed_model, images)


def accuracy(mnist: data.MNIST, project: Recognizer, seed_model: Recognizer, args) -> dict:
    out = {
        "clean_mnist": {
            "digitlib": float(
                np.mean(robustness.pipeline_digits(project, mnist.x_test) == mnist.y_test)
            ),
            "seed": float(np.mean(naive_digits(seed_model, mnist.x_test) == mnist.y_test)),
        }
    }
    x, y = mnist.x_test[: args.corruption_images], mnist.y_test[: args.corruption_images]
    project_scores, seed_scores = [], []
    for name in corruptions.CORRUPTIONS:
        for severity in corruptions.SEVERITIES:
            corrupted = corruptions.corrupt(x, name, severity, seed=1)
            project_scores.append(np.mean(robustness.pipeline_digits(project, corrupted) == y))
            seed_scores.append(np.mean(naive_digits(seed_model, corrupted) == y))
    out["corruption_suite_mean"] = {
        "digitlib": float(np.mean(project_scores)),
        "seed": float(np.mean(seed_scores)),
        "images_per_corruption_and_severity": int(len(y)),
    }
    print(f"corruptions: {out['corruption_suite_mean']}", flush=True)
    for kind, count in args.realistic.items():
        samples = synth.make_set(kind, mnist.x_test, mnist.y_test, count, seed=2024)
        right = seed_right = 0
        for sample in samples:
            try:
                answer = (
                    project.read_number(sample.data).text
                    if kind == "number"
                    else str(project.predict(sample.data).digit)
                )
            except (InvalidImageError, NoDigitFoundError):
                answer = None
            right += answer == sample.label
            if kind != "number":
                seed_right += bench_uploads.seed_digit(seed_model, sample.data) == int(sample.label)
        out[f"{kind}_uploads"] = {
            "digitlib": right / count,
            "seed": None if kind == "number" else seed_right / count,
            "images": count,
        }
        print(f"{kind}: {out[f'{kind}_uploads']}", flush=True)
    return out


def batch_throughput(project: Recognizer, mnist: data.MNIST) -> dict:
    inputs = mnist.x_test.astype(np.float32) / 255
    project.probabilities(inputs[:512])
    start = time.perf_counter()
    project.probabilities(inputs)
    network_only = len(inputs) / (time.perf_counter() - start)
    start = time.perf_counter()
    project.predict_many(list(mnist.x_test[:5000]), errors="return")
    full = 5000 / (time.perf_counter() - start)
    return {"network_images_per_second": network_only, "pipeline_images_per_second": full}


def write_report(report: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "benchmarks.json").write_text(json.dumps(report, indent=2) + "\n")
    acc, train, lat = report["accuracy"], report["training"], report["latency"]
    start, batch, floor = report["start_up"], report["batch"], report["floor"]
    ttt = report["time_to_accuracy"]

    def pct(value):
        return "n/a" if value is None else f"{value:.2%}"

    def minutes(name):
        run = ttt.get(name, {})
        if not run.get("seconds_to_target"):
            return "n/a"
        recorded = (
            f"{run['seconds_to_target'] / 60:.1f} min to 99.0% validation "
            f"({run['run_seconds'] / 60:.1f} min, {run['epochs']} epochs"
        )
        if "stages" in run:  # the recorded run is stage 2, which starts from a trained stage 1
            return (
                f"stage 2 of {run['stages']}, a fine-tune of the trained stage 1: {recorded}); "
                f"all {run['stages']} stages {run['all_stages_seconds'] / 60:.1f} min"
            )
        return f"{recorded} in all)"

    lines = [
        "| measure | seed's pipeline | digitlib | floor |",
        "|---|---|---|---|",
        f"| clean MNIST test accuracy | {pct(acc['clean_mnist']['seed'])} | "
        f"{pct(acc['clean_mnist']['digitlib'])} | |",
        f"| corruption suite, mean of {len(corruptions.CORRUPTIONS)} corruptions x 5 severities "
        f"({acc['corruption_suite_mean']['images_per_corruption_and_severity']} digits each) | "
        f"{pct(acc['corruption_suite_mean']['seed'])} | "
        f"{pct(acc['corruption_suite_mean']['digitlib'])} | |",
    ]
    for kind in ("photo", "canvas", "crop", "number"):
        values = acc[f"{kind}_uploads"]
        seed = "cannot (one digit per image)" if values["seed"] is None else pct(values["seed"])
        lines.append(
            f"| realistic {kind} uploads ({values['images']}) | {seed} | "
            f"{pct(values['digitlib'])} | |"
        )
    lines += [
        f"| training throughput (images/s, augmentation included) | "
        f"{train['seed']['images_per_second']:,.0f} | {train['default']['images_per_second']:,.0f} "
        f"| {floor['training_images_per_second_default']:,.0f} (3x forward FLOPs at peak) |",
        f"| time to accuracy (recorded `make pipeline` run) | {minutes('seed_cnn')} | "
        f"{minutes('digit_cnn')} | |",
        f"| one upload, 1-megapixel JPEG (median) | {lat['seed_path_1mp_ms']:.1f} ms | "
        f"{lat['photo_1mp']['median_ms']:.2f} ms | |",
        f"| one upload, {lat['photos_1mp']['photos']} different 1-megapixel photos (the median "
        f"photo; {lat['photos_1mp']['answered_by_quick_look']:.0%} answered by the quick look) | "
        f"| {lat['photos_1mp']['median_ms']:.2f} ms (without the quick look "
        f"{lat['photos_1mp']['median_ms_full_size']:.2f}) | |",
        f"| one upload, 12-megapixel JPEG, {lat['photo_12mp']['bytes'] / 1e6:.1f} MB (median) | "
        f"| {lat['photo_12mp']['median_ms']:.1f} ms | |",
        f"| batch inference, network only (images/s) | "
        f"{1000 / lat['seed_predict_per_image_ms']:,.0f} (`model.predict` per image) | "
        f"{batch['network_images_per_second']:,.0f} | "
        f"{floor['inference_images_per_second_default']:,.0f} "
        f"({floor['default_mflops']:.1f} MFLOP/image at {floor['peak_gflops']:.0f} GFLOP/s, "
        "the faster of NumPy's and ONNX Runtime's matrix multiply) |",
        f"| batch, whole pipeline on 28x28 digits (images/s) | | "
        f"{batch['pipeline_images_per_second']:,.0f} | |",
        f"| serving process start to first answer | {start['seed']['seconds']:.1f} s | "
        f"{start['digitlib']['seconds']:.2f} s | |",
        f"| serving process peak memory | {start['seed']['peak_rss_mb']:.0f} MB | "
        f"{start['digitlib']['peak_rss_mb']:.0f} MB | |",
        "",
        f"Measured {report['date']} on {report['machine']} by `benchmarks/bench_all.py`.",
    ]
    (folder / "benchmarks.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets, for a smoke run")
    parser.add_argument("--output", default=str(config.REPORTS_DIR))
    args = parser.parse_args(argv)
    args.corruption_images = 50 if args.quick else 1000
    args.realistic = (
        {"photo": 20, "canvas": 20, "crop": 20, "number": 10}
        if args.quick
        else {"photo": 500, "canvas": 500, "crop": 500, "number": 200}
    )
    import keras

    from digitlib import model

    mnist = data.load_mnist()
    project = Recognizer.load()
    seed_model = Recognizer.load(config.MODELS_DIR / "seed_cnn.onnx", gate=False)
    rates = peak_gflops()
    peak = rates["peak"]
    default_flops = model_flops(model.build("default"))
    seed_flops = model_flops(keras.models.load_model(config.SEED_MODEL))
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": bench_uploads.machine(),
        "floor": {
            "peak_gflops": peak,
            "gemm_gflops": rates,
            "default_mflops": default_flops / 1e6,
            "seed_mflops": seed_flops / 1e6,
            "inference_images_per_second_default": peak * 1e9 / default_flops,
            "training_images_per_second_default": peak * 1e9 / (3 * default_flops),
        },
        "accuracy": accuracy(mnist, project, seed_model, args),
        "training": training_throughput(mnist, 1280 if args.quick else 12800),
        "time_to_accuracy": time_to_accuracy(),
        "latency": bench_uploads.latency(mnist, project, repeats=10 if args.quick else 50),
        "batch": batch_throughput(project, mnist),
        "start_up": start_up(1 if args.quick else 3),
    }
    write_report(report, Path(args.output))
    print((Path(args.output) / "benchmarks.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
