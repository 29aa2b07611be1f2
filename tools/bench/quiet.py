#!/usr/bin/python3
"""Is the machine quiet enough to time? Shared by the benchmark drivers.

Two OpenMP programs sharing a few cores slow each other down by ten times or
more (each spins its threads waiting for cores the other holds), so a timing
taken beside other work measures the neighbours, not dinoc. A benchmark:
  - refuses to start when the 1-minute load average shows other work, or when
    another process used a significant share of a CPU during a short sampling
    window (read from /proc: utime + stime of every process, sampled twice);
  - checks again before and after each measurement, and marks the results
    INVALID (exit status 3) when the machine became busy while it ran.
--allow-busy times anyway, with the results marked INVALID. The benchmark's
own process and its children are not counted; a process that starts and ends
inside one sampling window is seen only through the load average.

usage: tools/bench/quiet.py [--max-load L] [--min-cpu F] [--window S]
prints the verdict for this machine now (exit 0 quiet, 3 busy).
"""
import argparse
import os
import sys
import time

EXIT_BUSY = 3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def add_arguments(ap):
    ap.add_argument("--max-load", type=float, default=0.5,
                    help="1-minute load average above which the machine counts as busy (0.5)")
    ap.add_argument("--min-cpu", type=float, default=0.1,
                    help="share of one CPU another process may use in the sampling window (0.1)")
    ap.add_argument("--window", type=float, default=2.0,
                    help="seconds over which other processes' CPU use is sampled (2)")
    ap.add_argument("--allow-busy", action="store_true",
                    help="time on a busy machine anyway; the results are marked INVALID")


def _cpu_ticks():
    """{pid: (utime + stime ticks, command name)} of every process we may read."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # gone, or not ours to read
            continue
        # comm is in parentheses and may hold spaces; the fields after it are fixed
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2:].split()
        out[int(entry)] = (int(fields[11]) + int(fields[12]), name, int(fields[1]))
    return out


def _ours(pid, procs):
    """Whether pid is this process or one of its descendants."""
    me = os.getpid()
    seen = 0
    while pid > 1 and seen < 64:
        if pid == me:
            return True
        pid = procs.get(pid, (0, "", 0))[2]
        seen += 1
    return False


def _uses_openmp(pid):
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
    except OSError:
        return False
    return any(lib in maps for lib in ("libgomp", "libomp", "libiomp"))


def busy_reasons(max_load=0.5, min_cpu=0.1, window=2.0, check_load=True):
    """Why the machine is not quiet now: a list of sentences, empty when quiet."""
    reasons = []
    if check_load:
        load1 = os.getloadavg()[0]
        if load1 > max_load:
            reasons.append(f"1-minute load average {load1:.2f} > {max_load}")
    before = _cpu_ticks()
    t0 = time.monotonic()
    time.sleep(window)
    after = _cpu_ticks()
    elapsed = time.monotonic() - t0
    for pid, (ticks, name, _) in sorted(after.items()):
        if _ours(pid, after):
            continue
        # a process started inside the window spent all its time in it
        share = (ticks - before.get(pid, (0,))[0]) / CLOCK_TICKS / elapsed
        if share >= min_cpu:
            omp = ", an OpenMP program" if _uses_openmp(pid) else ""
            reasons.append(f"process {pid} ({name}{omp}) used {share:.0%} of a CPU")
    return reasons


class Watch:
    """Checks the machine at the start (refusing to time when busy unless
    --allow-busy) and around every measurement; collects what it saw."""

    def __init__(self, args, tool):
        self.args, self.tool = args, tool
        self.start_load = os.getloadavg()[0]
        found = busy_reasons(args.max_load, args.min_cpu, args.window, check_load=True)
        if found and not args.allow_busy:
            print(f"{tool}: refusing to time on a busy machine: {'; '.join(found)}\n"
                  f"(stop the other work, or pass --allow-busy to get results marked INVALID)",
                  file=sys.stderr)
            sys.exit(EXIT_BUSY)
        self.reasons = [f"before timing: {r}" for r in found]

    def check(self, when):
        """Samples other processes again (the load average is checked at the
        start only: it decays over a minute, so later it mostly shows the
        benchmark's own work). Returns whether every check so far was quiet."""
        found = busy_reasons(self.args.max_load, self.args.min_cpu, self.args.window,
                             check_load=False)
        self.reasons += [f"{when}: {r}" for r in found]
        return self.valid

    @property
    def valid(self):
        return not self.reasons

    def mark(self):
        """A suffix for a result row: empty, or INVALID."""
        return "" if self.valid else "  INVALID"

    def report(self):
        """Prints the verdict; returns the exit status for the benchmark."""
        if self.valid:
            print(f"machine quiet throughout: load average {self.start_load:.2f} at the start, no "
                  f"other process above {self.args.min_cpu:.0%} of a CPU around any measurement")
            return 0
        print("INVALID: the machine was busy, these timings measure other work too:")
        for r in self.reasons:
            print(f"  {r}")
        return EXIT_BUSY


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap)
    args = ap.parse_args()
    found = busy_reasons(args.max_load, args.min_cpu, args.window)
    for r in found:
        print(r)
    print("busy" if found else "quiet")
    return EXIT_BUSY if found else 0


if __name__ == "__main__":
    sys.exit(main())
