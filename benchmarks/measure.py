"""Timing, memory and result rows shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class Row:
    """One figure beside its floor: ``ratio`` is value / floor, ``target`` bounds it."""

    name: str
    value: float
    unit: str
    floor: str = ""
    floor_value: float | None = None
    target: str = ""  # e.g. "ratio <= 1.3" or "value <= 0.5"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.floor_value is None or not self.floor_value:
            return None
        return self.value / self.floor_value

    @property
    def met(self) -> bool | None:
        """Whether the target holds (None when the row has no target)."""
        if not self.target:
            return None
        what, op, bound = self.target.split()
        measured = self.ratio if what == "ratio" else self.value
        if measured is None:
            return None
        return measured <= float(bound) if op == "<=" else measured >= float(bound)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        out["met"] = self.met
        return out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn``; return (seconds, its result)."""
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


@dataclass
class Proc:
    """A finished subprocess: wall time, peak resident memory and output."""

    wall: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


# Runs a command and writes its peak RSS (KB, from wait4) to the file named first. The
# kernel starts a child's peak at its parent's size, and the benchmark process holds a
# model: measured from this small launcher, the peak is the command's own.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_process(cmd: Sequence[str], *, env: dict[str, str] | None = None,
                check: bool = True) -> Proc:
    """Run ``cmd`` to the end: wall time, output, and its peak RSS (from the kernel)."""
    full_env = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _LAUNCHER, str(peak), *cmd],
                              capture_output=True, env=full_env, cwd=ROOT,
                              stdin=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - started
        kb = int(peak.read_text()) if peak.is_file() else 0
    result = Proc(wall, kb / 1024, done.returncode, done.stdout.decode("utf-8", "replace"),
                  done.stderr.decode("utf-8", "replace"))
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {result.returncode}: "
                           f"{result.stderr.strip()[-500:]}")
    return result


def alternate(commands: Sequence[Sequence[str]], runs: int, *,
              env: dict[str, str] | None = None) -> list[list[Proc]]:
    """Run each command ``runs`` times, interleaved (a, b, a, b, …) so drift hits all alike."""
    results: list[list[Proc]] = [[] for _ in commands]
    for _ in range(runs):
        for i, cmd in enumerate(commands):
            results[i].append(run_process(cmd, env=env))
    return results


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
