#!/usr/bin/python3
"""Data-parallel scaling: images/s of `dinoc train` on 2 MPI ranks x 1 thread vs 1 rank x 1 thread.

usage: tools/bench/bench_mpi.py [--configs fashion-mnist,vits16-b16] [--steps 12] [--warmup 3]
                                [--repeat 3] [--data DIR] [--dinoc build/dinoc] [quiet.py options]
Needs a dinoc built with MPI (DINOC_MPI, on where libopenmpi-dev is installed) and
mpirun (openmpi-bin). Cases: fashion-mnist (the dinoc config as is), vits16-b16
(lightly-example batch_size=16: ViT-S/16, K=65536, 2x224^2 + 8x96^2 crops per
image; retried at batch 8 when it does not fit), fashion-mnist-slice-masks and
vits16-b16-slice-masks (the same with masks_per_slice=true: each rank draws its own
iBOT masks, as official DINOv2 does per process, and runs the iBOT head over its
own count instead of the whole batch's worst case); test-tiny (batch 4, seconds)
checks the driver itself. Data: --data, else Fashion-MNIST from its Debian package
(grey images are replicated to RGB for the ViT-S case). The batch is the global
one: each of the 2 ranks trains half of it, so equal images/s means no speed-up.

For each case it runs, each in a fresh output folder,
  1 rank   mpirun --bind-to core -np 1 -x OMP_NUM_THREADS=1 dinoc train --config C ... --threads 1 --steps S
  2 ranks  mpirun --bind-to core -np 2 -x OMP_NUM_THREADS=1 dinoc train ... --threads 1 --steps S
so each rank, its compute thread and its batcher thread, has one core: the
2-rank run has twice the CPU of the 1-rank run, and nothing else. Then, for what
the machine itself gives two processes at once (its cores share caches and memory),
two independent 1-process runs of half the batch, one per core (taskset), no MPI:
the pair; their images/s add up.
It reads images/s from metrics.csv (the median over the steps after the first
`warmup`, which include compilation of the plan and the data pipeline's start),
runs the three `--repeat` times in turn and keeps the median of each. Prints the
rates, the ratio of 2 ranks to 1 and its scaling efficiency (ratio / 2; 1.8 and 0.9
are the goal), and the ratio of the independent pair to 1 rank. It times only a
quiet machine (quiet.py): it refuses to start beside other work and marks the
results INVALID (exit 3) if other work appeared while it ran; --allow-busy runs
anyway (the way to check the driver on a busy machine).
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import quiet  # noqa: E402

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
CASES = {
    "fashion-mnist": ("fashion-mnist", []),
    "vits16-b16": ("lightly-example", ["batch_size=16"]),
    "vits16-b16-slice-masks": ("lightly-example", ["batch_size=16", "masks_per_slice=true"]),
    "fashion-mnist-slice-masks": ("fashion-mnist", ["masks_per_slice=true"]),
    "test-tiny": ("test-tiny", ["batch_size=4"]),
}
FALLBACK_BATCH = 8


def train_command(args, config, overrides, out):
    """`dinoc train` of one thread into a fresh folder `out`."""
    shutil.rmtree(out, ignore_errors=True)
    return [args.dinoc, "train", "--config", config, *overrides, "--data", args.data, "--out", out,
            "--steps", str(args.steps), "--threads", "1", "--seed", "1", "--no-plot", "--no-knn",
            "--progress", "none"]


def last_line(err):
    return (err.strip().splitlines() or ["no message"])[-1]


def train(args, work, label, ranks, config, overrides):
    """One `dinoc train`; returns {"ips": median images/s} or {"error": text}."""
    out = os.path.join(work, f"{label}-{ranks}")
    cmd = train_command(args, config, overrides, out)
    # Both cases go through mpirun, which binds each rank to its own core: a
    # rank's compute thread and its batcher thread share that core. Run
    # without mpirun, the single process would spread the two threads over
    # both cores and the baseline would have twice the CPU of one rank.
    cmd = [args.mpirun, "--allow-run-as-root", "--bind-to", "core", "-np", str(ranks), "-x",
           "OMP_NUM_THREADS=1", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        return {"error": f"{ranks} rank(s): exit {p.returncode}: {last_line(p.stderr)}"}
    return {"ips": median_rate(out, args.warmup)}


def batch_of(overrides):
    for o in overrides:
        if o.startswith("batch_size="):
            return int(o.split("=", 1)[1])
    return None


def median_rate(out, warmup):
    with open(os.path.join(out, "metrics.csv")) as f:
        rates = [float(row["images_per_s"]) for row in csv.DictReader(f)]
    return statistics.median(rates[warmup:] or rates)


def independent_pair(args, work, label, config, overrides):
    """Two 1-process runs of half the batch at once, one per core; their summed images/s."""
    batch = batch_of(overrides)
    if batch is None:
        text = subprocess.run([args.dinoc, "config", config, *overrides, "--text"],
                              capture_output=True, text=True).stdout
        batch = next((int(line.split("=")[1]) for line in text.splitlines()
                      if line.startswith("batch_size =")), 0)
    if batch < 2:
        return {"error": f"independent pair: no batch size of {config} to halve"}
    env = dict(os.environ, OMP_NUM_THREADS="1")
    runs = []
    for core in (0, 1):
        out = os.path.join(work, f"{label}-pair{core}")
        cmd = ["taskset", "-c", str(core),
               *train_command(args, config, [*overrides, f"batch_size={batch // 2}"], out)]
        runs.append((out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, text=True, env=env)))
    total = 0.0
    for out, p in runs:
        err = p.communicate()[1]
        if p.returncode != 0:
            return {"error": f"independent pair: exit {p.returncode}: {last_line(err)}"}
        total += median_rate(out, args.warmup)
    return {"ips": total}


def run_case(args, watch, work, label, config, overrides):
    """The three runs, `--repeat` times in turn (this machine's speed drifts over
    minutes; interleaving spreads the drift over all three); the median of each."""
    rounds = {1: [], 2: [], "pair": []}
    for _ in range(args.repeat):
        for ranks in (1, 2):
            watch.check(f"before {label} on {ranks} rank(s)")
            rounds[ranks].append(train(args, work, label, ranks, config, overrides))
        watch.check(f"before {label}'s independent pair")
        rounds["pair"].append(independent_pair(args, work, label, config, overrides))
    watch.check(f"after {label}")
    res = {"case": label}
    for k, runs in rounds.items():
        errors = [r["error"] for r in runs if "error" in r]
        res[k] = {"error": errors[0]} if errors else {
            "ips": statistics.median(r["ips"] for r in runs)}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="fashion-mnist,vits16-b16")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3, help="first steps left out of the median (3)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds of the three runs, interleaved; the median of each (3)")
    ap.add_argument("--data", default=FASHION_MNIST)
    ap.add_argument("--dinoc", default=os.path.join(ROOT, "build", "dinoc"))
    ap.add_argument("--mpirun", default=shutil.which("mpirun") or "mpirun")
    quiet.add_arguments(ap)
    args = ap.parse_args()
    if not shutil.which(args.mpirun):
        print(f"bench_mpi: no {args.mpirun} (install openmpi-bin)", file=sys.stderr)
        return 2
    watch = quiet.Watch(args, "bench_mpi")
    results, notes = [], []
    with tempfile.TemporaryDirectory() as work:
        for label in args.configs.split(","):
            config, overrides = CASES[label]
            r = run_case(args, watch, work, label, config, overrides)
            results.append(r)
            failed = [r[n]["error"] for n in (1, 2) if "error" in r[n]]
            if (failed and batch_of(overrides) not in (None, FALLBACK_BATCH)
                    and label.startswith("vits16-b16")):
                notes.append(f"{label} did not run ({'; '.join(failed)}); retried at batch "
                             f"{FALLBACK_BATCH}")
                ov = [o for o in overrides if not o.startswith("batch_size=")]
                results.append(run_case(args, watch, work, f"{label}->b{FALLBACK_BATCH}", config,
                                        ov + [f"batch_size={FALLBACK_BATCH}"]))
    print(f"dinoc train, data parallel over MPI: 2 ranks x 1 thread vs 1 rank x 1 thread (a core "
          f"per rank), the same global batch; median images/s of {args.steps - args.warmup} steps "
          f"after {args.warmup}, median of {args.repeat} interleaved rounds; {os.cpu_count()} CPUs")
    print(f"{'case':<26} {'1 rank img/s':>13} {'2 ranks img/s':>14} {'ratio':>7} {'efficiency':>11}"
          f" {'pair img/s':>11} {'pair ratio':>11}")
    for r in results:
        one, two, pair = r[1].get("ips"), r[2].get("ips"), r["pair"].get("ips")
        ratio = two / one if one and two else None
        ceiling = pair / one if one and pair else None
        print(f"{r['case']:<26} {format(one, '.3g') if one else '-':>13} "
              f"{format(two, '.3g') if two else '-':>14} "
              f"{format(ratio, '.2f') if ratio else '-':>7} "
              f"{format(ratio / 2, '.2f') if ratio else '-':>11} "
              f"{format(pair, '.3g') if pair else '-':>11} "
              f"{format(ceiling, '.2f') if ceiling else '-':>11}{watch.mark()}")
        for n in (1, 2, "pair"):
            if "error" in r[n]:
                print(f"  {r['case']}: {r[n]['error']}")
    for n in notes:
        print(f"  note: {n}")
    version = subprocess.run([args.dinoc, "version"], capture_output=True, text=True).stdout
    mpi = subprocess.run([args.mpirun, "--version"], capture_output=True, text=True).stdout
    print(f"versions: {', '.join(version.splitlines())}; {(mpi.splitlines() or ['mpirun ?'])[0]}")
    return watch.report()


if __name__ == "__main__":
    sys.exit(main())
