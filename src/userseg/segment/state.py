"""A fitted :class:`~userseg.segment.segmenter.Segmenter` as JSON plus NumPy arrays, and back.

Never a pickle: a model may be loaded from elsewhere. ``FORMAT_VERSION``
changes when the layout does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from userseg._version import __version__
from userseg.cluster.assigners import assigner_from_state
from userseg.config import PrepareConfig
from userseg.errors import DataError
from userseg.explain.profiles import SegmentProfile
from userseg.features.prepare import Preparer

if TYPE_CHECKING:
    from userseg.segment.segmenter import Segmenter

__all__ = ["FORMAT_VERSION", "from_state", "to_state"]

FORMAT_VERSION = 1


def to_state(seg: Segmenter) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The fitted ``seg`` as (JSON-able params, named NumPy arrays); no pickle."""
    assigner_params, arrays = seg.assigner_.to_state()
    params = {
        "format_version": FORMAT_VERSION,
        "kind": "segmenter",
        "userseg_version": __version__,
        "params": {
            k: v
            for k, v in seg.get_params().items()
            if k != "prepare" or not isinstance(v, PrepareConfig)
        },
        "preparer": seg.preparer_.to_dict(),
        "assigner": assigner_params,
        "n_segments": seg.n_segments_,
        "segment_ids": [int(i) for i in seg.segment_ids_],
        "names": seg.names_,
        "metrics": seg.metrics_,
        "k_choice": seg.k_choice_,
        "baseline": getattr(seg, "baseline_", None),
        "selection": getattr(seg, "selection_", None),
        "date_references": getattr(seg, "date_references_", {}),
        "warnings": getattr(seg, "warnings_", []),
        "outcome": getattr(seg, "outcome_", None),
    }
    out = {f"assigner.{k}": v for k, v in arrays.items()}
    m = getattr(seg, "map_", None)
    if m is not None:
        params["map"] = {"method": m["method"], "explained": m["explained"]}
        out.update({"map.x": m["x"], "map.y": m["y"], "map.index": m["index"]})
    return params, out


def from_state(
    cls: type[Segmenter],
    params: dict[str, Any],
    arrays: dict[str, np.ndarray],
    profiles: list[SegmentProfile] | None = None,
) -> Segmenter:
    """Rebuild a fitted ``cls`` from :func:`to_state`'s output (predict-ready)."""
    if params.get("kind") != "segmenter" or params.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"not a userseg model of format {FORMAT_VERSION}: "
            f"kind={params.get('kind')!r}, "
            f"format_version={params.get('format_version')!r}."
        )
    obj = cls(**params["params"])
    obj.preparer_ = Preparer.from_dict(params["preparer"])
    obj.assigner_ = assigner_from_state(
        params["assigner"],
        {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("assigner.")},
    )
    obj.n_segments_ = int(params["n_segments"])
    obj.segment_ids_ = np.asarray(params.get("segment_ids", range(obj.n_segments_)), dtype=np.int64)
    obj.names_ = list(params["names"])
    obj.metrics_ = params.get("metrics", {})
    obj.k_choice_ = params.get("k_choice", {})
    if params.get("baseline") is not None:
        obj.baseline_ = params["baseline"]
    obj.selection_ = params.get("selection")
    obj.date_references_ = dict(params.get("date_references") or {})
    obj.warnings_ = list(params.get("warnings") or [])
    obj.outcome_ = params.get("outcome")
    if "map.x" in arrays:
        obj.map_ = dict(
            params.get("map", {}),
            x=arrays["map.x"],
            y=arrays["map.y"],
            index=arrays["map.index"],
        )
    # Profiles come from the store ordered by segment id; the model's arrays (and
    # names_) follow its positions, whose ids need not be ascending after a refit
    # kept the ids of the previous version (e.g. [0, 1, 2, 4, 3, 5]).
    position = {int(s): i for i, s in enumerate(obj.segment_ids_)}
    obj.profiles_ = sorted(profiles or [], key=lambda p: position.get(p.segment, len(position)))
    if obj.profiles_:
        by_id = {p.segment: p.name for p in obj.profiles_}
        pairs = zip(obj.segment_ids_, obj.names_, strict=True)
        obj.names_ = [by_id.get(int(s), name) for s, name in pairs]
    obj.feature_names_in_ = obj.preparer_.feature_names_in_
    obj.n_features_in_ = len(obj.feature_names_in_)
    return obj
