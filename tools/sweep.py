#!/usr/bin/env python3
"""Train a grid of config overrides with `dinoc train`, one run at a time, and
write one markdown table: overrides, steps, minutes (wall and CPU), the final
loss terms and the teacher's k-NN top-1.

    tools/sweep.py --config fashion-mnist --steps 200 --out runs/sweep \\
        --grid sweep.txt [--base "vit.layerscale_init=1"] [--knn-max-train 10000 --knn-max-test 2000]

The grid file holds one run per line: FIELD=VALUE overrides separated by
spaces, optionally followed by `--steps N` (blank lines and # comments
ignored); a line of only `-` is the config as it is. `--base` overrides go
before every line's own. Each run trains into OUT/run-NN, then `dinoc knn`
evaluates its checkpoint (extra arguments with --knn-args). Results are
appended to OUT/results.jsonl as they come, so an interrupted sweep resumes
where it stopped (runs already there are not trained again), and the table,
OUT/sweep.md, is rewritten after every run.

Losses are the mean of the last 10 steps in metrics.csv (one step is noisy);
"DINO/ln K" near 1 is a uniform (collapsed) output. CPU minutes are the user
plus system time of the training process: on a shared machine the wall time
says little, the CPU time per step says what a quiet machine would take
(wall ~ CPU / threads when the threads are busy). Only the python3 standard
library is used.
"""
import argparse
import csv
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time


def parse_grid(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            words = shlex.split(line)
            steps = None
            if "--steps" in words:
                i = words.index("--steps")
                steps = int(words[i + 1])
                del words[i:i + 2]
            overrides = [w for w in words if w != "-"]
            bad = [w for w in overrides if "=" not in w]
            if bad:
                sys.exit(f"sweep: {path}: '{bad[0]}' is not FIELD=VALUE")
            runs.append({"overrides": overrides, "steps": steps})
    return runs


def run_timed(cmd, log_path):
    """Runs cmd with stdout+stderr to log_path; returns (exit code, wall s, CPU s)."""
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.monotonic() - start, usage.ru_utime + usage.ru_stime


def final_losses(metrics_path, last=10):
    with open(metrics_path) as f:
        rows = list(csv.DictReader(f))
    tail = rows[-last:]
    mean = lambda k: sum(float(r[k]) for r in tail) / len(tail)
    return len(rows), {k: mean(k) for k in ("loss", "dino_loss", "ibot_loss", "koleo_loss")}


def output_dim(dinoc, config, overrides):
    out = subprocess.run([dinoc, "config", config, "--text"] + overrides, capture_output=True, text=True)
    m = re.search(r"^head\.output_dim = (\d+)$", out.stdout, re.M)
    if out.returncode != 0 or not m:
        sys.exit(f"sweep: dinoc config {config} {' '.join(overrides)}: {out.stderr.strip()}")
    return int(m.group(1))


def table(results, title):
    lines = [f"### {title}", "",
             "| # | overrides | steps | wall min | CPU min | CPU s/step | DINO | DINO/ln K | iBOT | KoLeo | k-NN top-1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.get("error"):
            lines.append(f"| {r['index']} | {' '.join(r['overrides']) or '(config)'} | failed: {r['error']} "
                         "| | | | | | | | |")
            continue
        l = r["losses"]
        knn = f"{100 * r['knn']:.2f}%" if r.get("knn") is not None else "-"
        lines.append(
            f"| {r['index']} | {' '.join(r['overrides']) or '(config)'} | {r['steps']} | {r['wall_s'] / 60:.1f} "
            f"| {r['cpu_s'] / 60:.1f} | {r['cpu_s'] / r['steps']:.2f} | {l['dino_loss']:.3f} "
            f"| {l['dino_loss'] / math.log(r['output_dim']):.3f} | {l['ibot_loss']:.3f} | {l['koleo_loss']:.3f} | {knn} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="fashion-mnist")
    ap.add_argument("--grid", required=True, help="file: one run's overrides per line")
    ap.add_argument("--base", default="", help="overrides before every run's own")
    ap.add_argument("--steps", type=int, required=True, help="steps of a run without its own --steps")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", help="dataset folder (default: the config's)")
    ap.add_argument("--knn-max-train", type=int, default=10000, help="0: all")
    ap.add_argument("--knn-max-test", type=int, default=2000, help="0: all")
    ap.add_argument("--knn-args", default="", help="more arguments for dinoc knn")
    ap.add_argument("--dinoc", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "dinoc"))
    ap.add_argument("--title", default=None)
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    base = shlex.split(a.base)
    results_path = os.path.join(a.out, "results.jsonl")
    results = []
    if os.path.exists(results_path):
        with open(results_path) as f:
            results = [json.loads(l) for l in f if l.strip()]
    done = {(tuple(r["overrides"]), r["steps"]) for r in results if not r.get("error")}
    title = a.title or f"{a.config}, seed {a.seed}, k-NN on {a.knn_max_train or 'all'} train / {a.knn_max_test or 'all'} test images"

    for spec in parse_grid(a.grid):
        overrides = base + spec["overrides"]
        steps = spec["steps"] or a.steps
        if (tuple(overrides), steps) in done:
            continue
        index = len(results)
        run_dir = os.path.join(a.out, f"run-{index:02d}")
        if os.path.exists(os.path.join(run_dir, "checkpoint.safetensors")):
            os.remove(os.path.join(run_dir, "checkpoint.safetensors"))
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "overrides.txt"), "w") as f:
            f.write(" ".join(overrides) + "\n")
        r = {"index": index, "overrides": overrides, "steps": steps,
             "output_dim": output_dim(a.dinoc, a.config, overrides)}
        print(f"sweep: run {index}: {' '.join(overrides) or '(config)'}, {steps} steps", flush=True)
        cmd = [a.dinoc, "train", "--config", a.config] + overrides + [
            "--steps", str(steps), "--out", run_dir, "--threads", str(a.threads), "--seed", str(a.seed),
            "--no-plot", "--no-knn", "--progress", "lines"] + (["--data", a.data] if a.data else [])
        code, wall, cpu = run_timed(cmd, os.path.join(run_dir, "train.log"))
        if code != 0:
            r["error"] = f"dinoc train exit {code} (see {run_dir}/train.log)"
        else:
            n, r["losses"] = final_losses(os.path.join(run_dir, "metrics.csv"))
            r.update(steps=n, wall_s=wall, cpu_s=cpu)
            knn_cmd = [a.dinoc, "knn", os.path.join(run_dir, "checkpoint.safetensors"), "--threads", str(a.threads)]
            knn_cmd += ["--max-train", str(a.knn_max_train)] if a.knn_max_train else []
            knn_cmd += ["--max-test", str(a.knn_max_test)] if a.knn_max_test else []
            knn_cmd += (["--data", a.data] if a.data else []) + shlex.split(a.knn_args)
            out = subprocess.run(knn_cmd, capture_output=True, text=True)
            m = re.search(r"^kNN top-1: ([0-9.]+)", out.stdout, re.M)
            r["knn"] = float(m.group(1)) if m else None
            if not m:
                r["knn_error"] = out.stderr.strip()[-300:]
            print(f"sweep: run {index}: {r['cpu_s'] / n:.2f} CPU s/step, {wall / n:.2f} wall s/step, "
                  f"dino {r['losses']['dino_loss']:.3f}, k-NN {r['knn']}", flush=True)
        results.append(r)
        with open(results_path, "a") as f:
            f.write(json.dumps(r) + "\n")
        with open(os.path.join(a.out, "sweep.md"), "w") as f:
            f.write(table(results, title))
    with open(os.path.join(a.out, "sweep.md"), "w") as f:
        f.write(table(results, title))
    sys.stdout.write(table(results, title))


if __name__ == "__main__":
    main()
