"""k-means assignment and update in PyTorch: on a CUDA GPU when there is one, else CPU.

The embedded k-means (:mod:`userseg.cluster.kmeans`) hands its Lloyd iterations to
this module when a GPU is present and the data is large (:func:`use_gpu`); on a
machine without one nothing here is imported, and the ``torch`` extra is optional.
On the CPU it exists so that the same code is tested where there is no GPU: it
computes what the Numba kernels compute (squared Euclidean distances as sums of
squared differences, the nearest centre with the lowest index on a tie, centre
sums in float64), so on float64 data the labels are identical and the inertia
equal to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from userseg.errors import ConfigError

__all__ = ["GPU_MIN_ROWS", "TorchRun", "assign", "lloyd", "torch_available", "use_gpu"]

# Below this many rows the copy to the GPU and the launches cost more than the CPU kernels.
GPU_MIN_ROWS = 1_000_000


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(
            "the torch k-means backend needs PyTorch: pip install 'userseg[torch]'."
        ) from exc
    return torch


def torch_available() -> bool:
    """Whether PyTorch can be imported (without importing it when it cannot)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def use_gpu(n_rows: int) -> bool:
    """Whether k-means on ``n_rows`` rows should run on the GPU: torch, CUDA and a large n.

    ``USERSEG_KMEANS_BACKEND=numba`` forces the CPU kernels, ``=torch`` the torch
    backend at any size (on a GPU).
    """
    import os

    choice = os.environ.get("USERSEG_KMEANS_BACKEND", "auto")
    if choice == "numba" or not torch_available():
        return False
    if choice != "torch" and n_rows < GPU_MIN_ROWS:
        return False
    torch = _torch()
    return bool(torch.cuda.is_available())


@dataclass
class TorchRun:
    """Centres, labels, inertia and iterations of :func:`lloyd`."""

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    device: str


def _tensor(a: np.ndarray, device: Any) -> Any:
    """``a`` on ``device``; a read-only array (the fit's inputs are) is shared, never written."""
    import warnings

    torch = _torch()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(np.ascontiguousarray(a), device=device)


def _device(device: str | None) -> Any:
    torch = _torch()
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def _chunk_rows(k: int, d: int, budget: int = 1 << 26) -> int:
    """Rows a chunk holds so that its (rows, k, d) differences stay near ``budget`` values."""
    return max(1024, budget // max(1, k * d))


def _assign(X: Any, C: Any, chunk: int) -> tuple[Any, Any]:
    """Nearest centre and squared distance of every row (rows in chunks, bounded memory)."""
    torch = _torch()
    n = X.shape[0]
    labels = torch.empty(n, dtype=torch.int64, device=X.device)
    best = torch.empty(n, dtype=X.dtype, device=X.device)
    for start in range(0, n, chunk):
        xc = X[start : start + chunk]
        # sums of squared differences, as the Numba kernel: no |x|²-2x·c+|c|² cancellation
        d2 = ((xc[:, None, :] - C[None, :, :]) ** 2).sum(dim=2)
        val, idx = d2.min(dim=1)  # the first minimum on a tie, as argmin in the kernel
        labels[start : start + chunk] = idx
        best[start : start + chunk] = val
    return labels, best


def assign(
    X: np.ndarray, centers: np.ndarray, *, device: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and squared distances of ``X`` to the nearest of ``centers`` (NumPy in and out)."""
    dev = _device(device)
    Xt = _tensor(X, dev)
    Ct = _tensor(np.asarray(centers, dtype=X.dtype), dev)
    labels, best = _assign(Xt, Ct, _chunk_rows(*Ct.shape))
    return labels.cpu().numpy().astype(np.int32), best.cpu().numpy()


def lloyd(
    X: np.ndarray,
    init: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 300,
    tol: float = 0.0,
    device: str | None = None,
) -> TorchRun:
    """Lloyd iterations from ``init`` until no row changes cluster or the shift is <= ``tol``.

    Parameters
    ----------
    X : ndarray of shape (n, d), float32 or float64
    init : ndarray of shape (k, d)
    sample_weight : ndarray of shape (n,), optional
    max_iter : int
    tol : float
        Absolute bound on the squared shift of the centres (the caller scales it,
        as :func:`userseg.cluster.kmeans.tolerance` does).
    device : str, optional
        ``"cuda"``, ``"cpu"``…; default CUDA when available.

    Returns
    -------
    TorchRun
        An empty cluster keeps its centre (the caller relocates it, as the CPU path does).
    """
    torch = _torch()
    dev = _device(device)
    Xt = _tensor(X, dev)
    C = _tensor(np.asarray(init, dtype=X.dtype), dev)
    k, d = C.shape
    w = (
        torch.as_tensor(np.asarray(sample_weight, dtype=np.float64), device=dev)
        if sample_weight is not None and len(sample_weight)
        else torch.ones(Xt.shape[0], dtype=torch.float64, device=dev)
    )
    chunk = _chunk_rows(k, d)
    labels = torch.full((Xt.shape[0],), -1, dtype=torch.int64, device=dev)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        new_labels, _ = _assign(Xt, C, chunk)
        changed = int((new_labels != labels).sum())
        labels = new_labels
        # centre sums in float64 whatever the data's precision, as the CPU kernels
        sums = torch.zeros((k, d), dtype=torch.float64, device=dev)
        sums.index_add_(0, labels, Xt.to(torch.float64) * w[:, None])
        counts = torch.zeros(k, dtype=torch.float64, device=dev).index_add_(0, labels, w)
        full = counts > 0
        new = C.to(torch.float64).clone()
        new[full] = sums[full] / counts[full, None]
        shift = float(((new - C.to(torch.float64)) ** 2).sum())
        C = new.to(Xt.dtype)
        if changed == 0 or shift <= tol:
            converged = True
            break
    labels, best = _assign(Xt, C, chunk)
    inertia = float((best.to(torch.float64) * w).sum())
    return TorchRun(
        centers=C.cpu().numpy(),
        labels=labels.cpu().numpy().astype(np.int32),
        inertia=inertia,
        n_iter=n_iter,
        converged=converged,
        device=str(dev),
    )
