"""k-means against ground truth: Fränti's S1-S4 and Birch1/Birch2, ARI and centroid index.

The data live outside the repository, in ``../shared/data`` (see the SOURCE.md
files there); nothing is copied in. Prints one line per set, userseg and
scikit-learn side by side from the same seed::

    python benchmarks/ground_truth.py [--data DIR] [--n-init N] [--seeds N]

The centroid index (CI) of Fränti & Sieranoja (2018) counts the true centroids
that no found centroid has as its nearest (and the other way round; the
larger count is reported): CI = 0 means every true cluster was found.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

SETS: dict[str, tuple[str, str, int]] = {
    # name: (folder, file stem, true k)
    "s1": ("franti_s_sets", "s1", 15),
    "s2": ("franti_s_sets", "s2", 15),
    "s3": ("franti_s_sets", "s3", 15),
    "s4": ("franti_s_sets", "s4", 15),
    "birch1": ("franti_birch", "birch1", 100),
    "birch2": ("franti_birch", "birch2", 100),
}


def load_set(name: str, root: Path = DATA) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Data (float64), labels (0-based), true centroids and k of one set.

    The S sets ship their generating centroids (``sN-cb.txt``); for Birch the
    true centroids are the means of the labelled classes.
    """
    folder, stem, k = SETS[name]
    base = root / folder
    X = np.loadtxt(base / f"{stem}.data.txt", dtype=np.float64)
    y = np.loadtxt(base / f"{stem}.labels0.txt", dtype=np.int64) - 1
    cb = base / f"{stem}-cb.txt"
    if cb.exists():
        centroids = np.loadtxt(cb, delimiter=",", dtype=np.float64)
    else:
        centroids = np.vstack([X[y == j].mean(axis=0) for j in range(k)])
    return X, y, centroids, k


def centroid_index(found: np.ndarray, true: np.ndarray) -> int:
    """Fränti's centroid index: max over both directions of the unmapped target centroids."""

    def orphans(src: np.ndarray, dst: np.ndarray) -> int:
        d2 = ((src[:, None, :] - dst[None, :, :]) ** 2).sum(axis=2)
        mapped = np.zeros(dst.shape[0], dtype=bool)
        mapped[d2.argmin(axis=1)] = True
        return int((~mapped).sum())

    return max(orphans(found, true), orphans(true, found))


def evaluate(name: str, *, n_init: int = 1, seed: int = 0, root: Path = DATA) -> dict[str, float]:
    """Fit userseg and scikit-learn k-means on one set; ARI, CI and seconds of each."""
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.metrics import adjusted_rand_score

    from userseg.cluster import KMeans

    X, y, centroids, k = load_set(name, root)
    row: dict[str, float] = {"n": X.shape[0], "k": k}
    for tag, model in (
        ("userseg", KMeans(k, n_init=n_init, random_state=seed)),
        ("sklearn", SkKMeans(k, n_init=n_init, random_state=seed, algorithm="lloyd")),
    ):
        t0 = time.perf_counter()
        model.fit(X)
        row[f"{tag}_seconds"] = time.perf_counter() - t0
        row[f"{tag}_ari"] = adjusted_rand_score(y, model.labels_)
        row[f"{tag}_ci"] = centroid_index(model.cluster_centers_, centroids)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n-init", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1; means are printed")
    args = parser.parse_args(argv)
    if not (args.data / "franti_s_sets").exists():
        raise SystemExit(f"ground-truth data absent: {args.data} (see ../shared/data/*/SOURCE.md)")
    from userseg.cluster import KMeans

    KMeans(2, random_state=0).fit(np.random.default_rng(0).normal(size=(100, 2)))  # compile
    print(f"k-means vs ground truth: n_init={args.n_init}, seeds 0..{args.seeds - 1}; "
          "ARI and CI of seed 0, then the mean over the seeds, CI=0 the runs that found every "
          "cluster, s the mean seconds")
    print(f"{'set':<7}{'n':>7}{'k':>4} | {'userseg ARI':>11} {'CI':>2} {'mean ARI':>8} "
          f"{'mean CI':>7} {'CI=0':>4} {'s':>5} | {'sklearn ARI':>11} {'CI':>2} {'mean ARI':>8} "
          f"{'mean CI':>7} {'CI=0':>4} {'s':>5}")
    for name in SETS:
        rows = [evaluate(name, n_init=args.n_init, seed=s, root=args.data)
                for s in range(args.seeds)]
        line = f"{name:<7}{int(rows[0]['n']):>7}{int(rows[0]['k']):>4}"
        for tag in ("userseg", "sklearn"):
            ari = [r[f"{tag}_ari"] for r in rows]
            ci = [r[f"{tag}_ci"] for r in rows]
            secs = [r[f"{tag}_seconds"] for r in rows]
            line += (f" | {ari[0]:>11.4f} {int(ci[0]):>2} {np.mean(ari):>8.4f} {np.mean(ci):>7.1f} "
                     f"{sum(c == 0 for c in ci):>4} {np.mean(secs):>5.2f}")
        print(line)


if __name__ == "__main__":
    main()
