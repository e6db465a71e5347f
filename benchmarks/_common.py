"""Shared helpers for the benchmarks: seeded data, timing and peak memory beyond the data.

Every benchmark runs userseg and its peer side by side in one process and
prints both figures and their ratio, because this machine is shared and noisy:
ratios measured in one run are comparable, absolute seconds are not.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    import psutil
except ImportError:  # pragma: no cover - psutil comes with the bench extra
    psutil = None


def exact_rss() -> None:
    """Re-run this script with glibc's mmap threshold fixed, so that freed arrays leave the RSS.

    glibc raises its mmap threshold (up to 32 MB) after large frees; later
    arrays below it come from the heap, reuse freed memory and never show in
    the RSS, so a measurement would depend on what ran before it. With the
    threshold fixed at 64 KiB every array is its own mapping, returned on free.
    Call it first thing in a benchmark's ``main``.
    """
    if sys.platform.startswith("linux") and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = str(1 << 16)
        os.execv(sys.executable, [sys.executable, *sys.argv])


def blobs(
    n: int,
    d: int = 16,
    k: int = 8,
    *,
    sigma: float = 1.0,
    spread: float = 4.0,
    dtype: Any = np.float32,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs generated in chunks so that 10M x 16 never needs a float64 copy.

    Returns the data (C-contiguous, ``dtype``) and the true labels.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, spread, size=(k, d))
    labels = rng.integers(0, k, size=n)
    X = np.empty((n, d), dtype=dtype)
    chunk = 1 << 20
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        noise = rng.standard_normal((stop - start, d), dtype=np.float32) * sigma
        X[start:stop] = centres[labels[start:stop]] + noise
    return X, labels


class PeakRSS:
    """Samples the process RSS in a thread; ``peak_mb`` is the rise over the RSS at entry.

    tracemalloc misses memory that compiled code (Numba, BLAS, faiss) allocates,
    so the resident set is sampled instead, every 2 ms.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._proc = psutil.Process(os.getpid()) if psutil else None

    def _rss(self) -> int:
        return self._proc.memory_info().rss if self._proc else 0

    def __enter__(self) -> PeakRSS:
        gc.collect()
        self._base = self._rss()
        self._peak = self._base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._rss())
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.peak_mb = (self._peak - self._base) / 2**20


@dataclass
class Measurement:
    name: str
    seconds: float  # median over repeats
    peak_mb: float  # max over repeats
    result: Any = None


def measure(name: str, fn: Callable[[], Any], *, repeats: int = 1) -> Measurement:
    """Run ``fn`` ``repeats`` times; report the median time and the largest memory rise."""
    times, peaks, result = [], [], None
    for _ in range(repeats):
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        peaks.append(mem.peak_mb)
        del mem
    return Measurement(name, statistics.median(times), max(peaks), result)


def ratio_line(case: str, peer: Measurement, ours: Measurement, extra: str = "") -> str:
    """One printed line: both times, both memory rises and peer/userseg."""
    speedup = peer.seconds / ours.seconds if ours.seconds > 0 else float("inf")
    return (
        f"{case:<34} {peer.name} {peer.seconds:8.3f}s {peer.peak_mb:8.1f}MB | "
        f"userseg {ours.seconds:8.3f}s {ours.peak_mb:8.1f}MB | "
        f"ratio peer/userseg {speedup:6.2f}x {extra}"
    )
