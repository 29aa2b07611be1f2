#!/usr/bin/python3
"""ViT-S/16 forward benchmark: dinoc vs ONNX Runtime vs PyTorch, same machine, same run.

usage: tools/bench/bench_forward.py [--batches 1,32] [--threads 2] [--repeats 10]
                                    [--artifact so|dnc]
Needs the reference packages (tools/bootstrap.sh reference) and a built dinoc
(build/dinoc). For each batch size it exports the model with PyTorch (opset 17),
compiles it with dinoc (to a shared object with generated kernels, or with
--artifact dnc to a plan run by dinoc's C and oneDNN kernels), then times the three systems on the same input and prints
the median latency of each, the ratios dinoc/ORT and dinoc/PyTorch, and the
versions measured (dinoc and its oneDNN, ONNX Runtime, PyTorch).
It times only a quiet machine (quiet.py): it refuses to start beside other work,
and marks the results INVALID (exit 3) if other work appeared while it ran.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import export_vit_s16  # noqa: E402
import quiet  # noqa: E402


def time_torch(batch, threads, repeats):
    torch.set_num_threads(threads)
    model = export_vit_s16.build()
    x = torch.randn(batch, 3, 224, 224)
    times = []
    with torch.no_grad():
        model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_ort(model, batch, threads, repeats):
    """(median ms, the ONNX Runtime version that ran)."""
    out = subprocess.run(["node", os.path.join(HERE, "ort_bench.js"), model, str(batch),
                          str(threads), str(repeats)], check=True, capture_output=True, text=True)
    fields = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    return float(fields["ort"].split()[0]), fields.get("version", "unknown")


def dinoc_versions(dinoc):
    """dinoc's `version` output on one line: "dinoc 0.1.0, oneDNN 2.6.3"."""
    out = subprocess.run([dinoc, "version"], check=True, capture_output=True, text=True)
    return ", ".join(out.stdout.splitlines())


def time_dinoc(dinoc, model, batch, threads, repeats, work, kind):
    artifact = os.path.join(work, f"vits16_b{batch}.{kind}")
    subprocess.run([dinoc, "compile", model, "-o", artifact], check=True, capture_output=True)
    x = os.path.join(work, f"x{batch}.npy")
    np.save(x, np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32))
    out = subprocess.run([dinoc, "run", artifact, "-i", f"pixels={x}", "-o", work, "--threads",
                          str(threads), "--repeat", str(repeats)], check=True, capture_output=True,
                         text=True)
    median = re.search(r"median_ms=([0-9.]+)", out.stdout + out.stderr)
    if not median:
        sys.exit(f"bench_forward: no timing in dinoc's output:\n{out.stdout}{out.stderr}")
    return float(median.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--artifact", choices=["so", "dnc"], default="so")
    ap.add_argument("--dinoc", default=os.path.join(ROOT, "build", "dinoc"))
    quiet.add_arguments(ap)
    args = ap.parse_args()
    watch = quiet.Watch(args, "bench_forward")
    print(f"ViT-S/16 forward, {args.threads} threads, median of {args.repeats} runs (ms); "
          f"dinoc from a .{args.artifact}")
    print(f"{'batch':>5} {'dinoc':>9} {'ORT':>9} {'PyTorch':>9} {'dinoc/ORT':>10} {'dinoc/PyTorch':>14}")
    ort_version = None
    with tempfile.TemporaryDirectory() as work:
        for batch in (int(b) for b in args.batches.split(",")):
            model = os.path.join(work, f"vits16_b{batch}.onnx")
            torch.onnx.export(export_vit_s16.build(), torch.randn(batch, 3, 224, 224), model,
                              opset_version=17, input_names=["pixels"], output_names=["logits"])
            watch.check(f"before batch {batch}")
            dinoc_ms = time_dinoc(args.dinoc, model, batch, args.threads, args.repeats, work,
                                  args.artifact)
            ort_ms, ort_version = time_ort(model, batch, args.threads, args.repeats)
            torch_ms = time_torch(batch, args.threads, args.repeats)
            watch.check(f"after batch {batch}")
            print(f"{batch:>5} {dinoc_ms:>9.1f} {ort_ms:>9.1f} {torch_ms:>9.1f} "
                  f"{dinoc_ms / ort_ms:>10.2f} {dinoc_ms / torch_ms:>14.2f}{watch.mark()}")
    print(f"versions: {dinoc_versions(args.dinoc)}, ONNX Runtime {ort_version} (onnxruntime-node), "
          f"PyTorch {torch.__version__}")
    return watch.report()


if __name__ == "__main__":
    sys.exit(main())
