#!/usr/bin/python3
"""Generated element-wise bandwidth: a fused chain of 4 element-wise ops over 64 MB
against memcpy of the same bytes, same threads, same run (build/bench_eltwise).

usage: tools/bench/bench_eltwise.py [--threads 2] [--repeats 10] [--target native] [--mb 64]
       [quiet.py options: --max-load, --min-cpu, --window, --allow-busy]
It times only a quiet machine (quiet.py): it refuses to start beside other work and
marks the results INVALID (exit 3) if other work appeared while it ran. The issue's
goal is a ratio of at least 0.8.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import quiet  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--target", default="native")
    ap.add_argument("--mb", type=float, default=64)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "bench_eltwise"))
    quiet.add_arguments(ap)
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"bench_eltwise.py: {args.binary} is missing: build the project first")
    watch = quiet.Watch(args, "bench_eltwise")
    out = subprocess.run([args.binary, "--threads", str(args.threads), "--repeats",
                          str(args.repeats), "--target", args.target, "--mb", str(args.mb)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench_eltwise failed: {out.stderr.strip()}")
    watch.check("after timing")
    sys.stdout.write(out.stdout.replace("\nratio:", f"\nratio{watch.mark()}:"))
    sys.exit(watch.report())


if __name__ == "__main__":
    main()
