"""Per-user text features from a table of (user, time, text), read in chunks.

For each user: how much they write, how they feel on average, whether that
is getting better or worse, how often they are negative, and what they write
about:

=====================  ==========================================================
column                 meaning
=====================  ==========================================================
``text_count``         non-empty texts
``text_chars_mean``    mean length of those texts, in characters (after cleaning)
``sentiment_mean``     mean sentiment score in [-1, 1] of the scored texts
``sentiment_trend``    fitted change of sentiment from the user's first to last
                       text (least-squares slope x time span); 0 with fewer than
                       two dated, scored texts or one date
``negative_share``     share of scored texts whose score is below 0
``topic_<j>``          mean topic share over the texts with a known word; the
                       names are in ``TextFeatures.topic_names``
=====================  ==========================================================

Users with no scored text get NaN sentiment and negative share (they said
nothing that a model could read); users with no text at all are absent.
``smoothing`` shrinks the mean, the share and the topic shares toward the
population, as userseg's rates are, so that one review does not make an
extreme user.

The table is read ``chunk_size`` rows at a time and only per-user sums are
kept, so memory grows with the number of users, not of texts. Topics are
fitted first on a uniform random sample of the texts (a first pass that reads
only the text column), unless a fitted :class:`~userseg.text.topics.TopicModel`
is passed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from userseg.errors import ConfigError, DataError, DataQualityWarning, SchemaError
from userseg.text.clean import DEFAULT_MAX_CHARS, CleanStats, clean_texts
from userseg.text.lang import LANGUAGES, detect_languages
from userseg.text.sentiment import SentimentScorer
from userseg.text.topics import TopicModel

__all__ = ["TextFeatures", "user_text_features"]

_DAY_NS = 86_400 * 10**9


@dataclass
class TextFeatures:
    """The result of :func:`user_text_features`.

    Attributes
    ----------
    features : DataFrame
        One row per user (index named after ``user_col``), the columns above.
    topic_names : dict of str to str
        ``topic_<j>`` → "size / small / large".
    topics : TopicModel or None
        The fitted topic model (``None`` when topics were off or found no words).
    report : dict
        Counts: rows, texts by language, scored and unscored texts, negative
        texts, rows without a user or a usable time, the cleaning counts.
    """

    features: pd.DataFrame
    topic_names: dict[str, str] = field(default_factory=dict)
    topics: TopicModel | None = None
    report: dict[str, Any] = field(default_factory=dict)


# -- reading ---------------------------------------------------------------------------
def _chunks(source: Any, columns: list[str], chunk_size: int) -> Iterator[pd.DataFrame]:
    """Yield pandas chunks of ``columns`` from a DataFrame, Arrow table, DuckDB relation,
    or a callable returning an iterable of DataFrames / Arrow record batches."""
    if isinstance(source, pd.DataFrame):
        _check_columns(source.columns, columns)
        for start in range(0, len(source), chunk_size):
            yield source.iloc[start : start + chunk_size][columns]
        return
    if hasattr(source, "to_batches") and hasattr(source, "schema"):  # pyarrow.Table
        _check_columns(source.schema.names, columns)
        for batch in source.select(columns).to_batches(max_chunksize=chunk_size):
            yield batch.to_pandas()
        return
    if hasattr(source, "fetch_arrow_reader") and hasattr(source, "columns"):  # DuckDB relation
        _check_columns(source.columns, columns)
        rel = source.select(*[_quote(c) for c in columns])
        # to_arrow_reader in DuckDB >= 1.4; fetch_arrow_reader (deprecated there) before.
        reader = (rel.to_arrow_reader if hasattr(rel, "to_arrow_reader")
                  else rel.fetch_arrow_reader)(chunk_size)
        for batch in reader:
            yield batch.to_pandas()
        return
    if callable(source):
        for part in source():
            frame = part if isinstance(part, pd.DataFrame) else part.to_pandas()
            _check_columns(frame.columns, columns)
            for start in range(0, len(frame), chunk_size):
                yield frame.iloc[start : start + chunk_size][columns]
        return
    raise ConfigError(
        "source should be a pandas DataFrame, a pyarrow Table, a DuckDB relation, or a "
        f"callable returning DataFrames or Arrow batches; got {type(source).__name__}."
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_columns(available: Iterable[str], wanted: list[str]) -> None:
    available = [str(c) for c in available]
    missing = [c for c in wanted if c not in available]
    if missing:
        raise SchemaError(
            f"text table: column(s) {missing} not found; available: {available}.",
            details={"missing": missing, "available": available},
        )


def _days(values: pd.Series) -> np.ndarray:
    """Times as float days since 1970 (NaN where unusable): datetimes, ISO text or epoch seconds."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        secs = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        return secs / 86_400.0
    stamps = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    out = np.full(len(values), np.nan)
    ok = stamps.notna().to_numpy()
    out[ok] = stamps[ok].astype("int64").to_numpy() / _DAY_NS
    return out


def _sample_texts(
    source: Any, text_col: str, chunk_size: int, n: int, max_chars: int, seed: int
) -> list[str]:
    """A uniform sample of ``n`` non-empty texts in one pass (bottom-n of random keys)."""
    rng = np.random.default_rng(seed)
    keys = np.empty(0)
    kept: list[Any] = []
    for chunk in _chunks(source, [text_col], chunk_size):
        values = chunk[text_col].to_numpy(dtype=object)
        ok = pd.notna(values)
        values = values[ok]
        new_keys = rng.random(len(values))
        keys = np.concatenate([keys, new_keys])
        kept.extend(values.tolist())
        if len(kept) > 2 * n:
            top = np.argpartition(keys, n)[:n]
            keys, kept = keys[top], [kept[i] for i in top]
    if len(kept) > n:
        top = np.argpartition(keys, n)[:n]
        kept = [kept[i] for i in top]
    texts = clean_texts(kept, max_chars=max_chars)
    return [t for t in texts if t]


# -- per chunk -------------------------------------------------------------------------
def _chunk_sums(
    chunk: pd.DataFrame,
    cols: tuple[str, str | None, str],
    scorer: SentimentScorer,
    topics: TopicModel | None,
    stats: CleanStats,
    report: dict[str, Any],
    max_chars: int,
) -> pd.DataFrame:
    user_col, time_col, text_col = cols
    users = chunk[user_col]
    has_user = users.notna().to_numpy()
    report["rows_without_user"] += int((~has_user).sum())
    chunk = chunk[has_user]
    texts = clean_texts(chunk[text_col].to_numpy(dtype=object), max_chars=max_chars, stats=stats)
    nonempty = np.array([bool(t) for t in texts], dtype=bool)
    chunk = chunk[nonempty]
    texts = [t for t, keep in zip(texts, nonempty, strict=True) if keep]
    if not texts:
        return pd.DataFrame()
    langs = detect_languages(texts)
    for code, count in zip(*np.unique(langs, return_counts=True), strict=True):
        report["languages"][str(code)] = report["languages"].get(str(code), 0) + int(count)
    score = scorer.score(texts, langs)
    scored = np.isfinite(score)
    s = np.where(scored, score, 0.0)
    frame = pd.DataFrame({
        "user": chunk[user_col].to_numpy(),
        "n": 1.0,
        "chars": np.fromiter((len(t) for t in texts), dtype=float, count=len(texts)),
        "n_scored": scored.astype(float),
        "s": s,
        "neg": (scored & (s < 0)).astype(float),
    })
    if report.get("_languages"):
        codes = np.asarray(langs)
        for code in LANGUAGES:
            frame[f"lang_{code}"] = (codes == code).astype(float)
    report["texts_scored"] += int(scored.sum())
    report["texts_negative"] += int(frame["neg"].sum())
    if time_col is not None:
        t = _days(chunk[time_col])
        dated = scored & np.isfinite(t)
        report["rows_without_time"] += int((~np.isfinite(t)).sum())
        t0 = report.setdefault("_origin", float(np.nanmin(t)) if np.isfinite(t).any() else 0.0)
        tt = np.where(dated, t - t0, 0.0)
        frame["nt"] = dated.astype(float)
        frame["t"], frame["tt"] = tt, tt * tt
        frame["ts"], frame["st"] = tt * s, np.where(dated, s, 0.0)
        frame["tmin"] = np.where(dated, tt, np.inf)
        frame["tmax"] = np.where(dated, tt, -np.inf)
    if topics is not None:
        shares = topics.transform(texts, langs)
        frame["n_topic"] = (shares.sum(axis=1) > 0).astype(float)
        for j in range(shares.shape[1]):
            frame[f"topic_{j}"] = shares[:, j]
    agg = {c: "sum" for c in frame.columns if c not in ("user", "tmin", "tmax")}
    if time_col is not None:
        agg.update(tmin="min", tmax="max")
    return frame.groupby("user", sort=False).agg(agg)


def _merge(total: pd.DataFrame | None, part: pd.DataFrame) -> pd.DataFrame:
    if total is None or total.empty:
        return part
    if part.empty:
        return total
    both = pd.concat([total, part])
    agg = {c: "sum" for c in both.columns}
    if "tmin" in both:
        agg.update(tmin="min", tmax="max")
    return both.groupby(level=0, sort=False).agg(agg)


def _finish(
    sums: pd.DataFrame,
    n_topics: int,
    has_time: bool,
    smoothing: float,
    prior: tuple[float, ...] | None = None,
) -> pd.DataFrame:
    out = pd.DataFrame(index=sums.index)
    out["text_count"] = sums["n"].astype(np.int64)
    out["text_chars_mean"] = sums["chars"] / sums["n"]
    n_scored = sums["n_scored"]
    if prior is None:
        pop_mean = sums["s"].sum() / max(n_scored.sum(), 1.0)
        pop_neg = sums["neg"].sum() / max(n_scored.sum(), 1.0)
    else:  # the population's, fixed when a few users are featured again (live updates)
        pop_mean, pop_neg = float(prior[0]), float(prior[1])
    a = float(smoothing)
    denom = (n_scored + a).where(n_scored > 0)
    out["sentiment_mean"] = (sums["s"] + a * pop_mean) / denom
    if has_time:
        n = sums["nt"]
        var = n * sums["tt"] - sums["t"] ** 2
        cov = n * sums["ts"] - sums["t"] * sums["st"]
        span = sums["tmax"] - sums["tmin"]
        ok = (n >= 2) & (var > 1e-12 * np.maximum(n * sums["tt"], 1.0)) & (span > 0)
        slope = np.where(ok, cov / np.where(ok, var, 1.0), 0.0)
        out["sentiment_trend"] = np.where(ok, slope * np.where(ok, span, 0.0), 0.0)
    out["negative_share"] = (sums["neg"] + a * pop_neg) / denom
    pop_topics = []
    if n_topics:
        n_topic = sums["n_topic"]
        for j in range(n_topics):
            pop_t = float(sums[f"topic_{j}"].sum() / max(n_topic.sum(), 1.0))
            if prior is not None and len(prior) == 2 + n_topics:
                pop_t = float(prior[2 + j])
            pop_topics.append(pop_t)
            if a > 0:  # shrunk like the sentiment: one review is not a user's whole taste
                out[f"topic_{j}"] = (sums[f"topic_{j}"] + a * pop_t) / (n_topic + a)
            else:
                out[f"topic_{j}"] = (sums[f"topic_{j}"] / n_topic.where(n_topic > 0)).fillna(0.0)
    for code in LANGUAGES:
        if f"lang_{code}" in sums:
            out[f"lang_{code}"] = sums[f"lang_{code}"] / sums["n"]
    out.attrs["prior"] = (float(pop_mean), float(pop_neg), *pop_topics)
    return out


def user_text_features(
    source: pd.DataFrame | Any | Callable[[], Iterable[Any]],
    *,
    user_col: str = "user_id",
    text_col: str = "text",
    time_col: str | None = "time",
    topics: TopicModel | str | None = "auto",
    scorer: SentimentScorer | None = None,
    chunk_size: int = 50_000,
    max_chars: int = DEFAULT_MAX_CHARS,
    smoothing: float = 0.0,
    prior: tuple[float, ...] | None = None,
    languages: bool = False,
    progress: Callable[[int], None] | None = None,
) -> TextFeatures:
    """Per-user sentiment, trend, negative share, topic shares and text volume.

    Parameters
    ----------
    source : DataFrame, pyarrow Table, DuckDB relation, or callable
        The table of texts, one row per text. A callable is called once per
        pass and returns an iterable of DataFrames or Arrow record batches.
    user_col, text_col, time_col : str
        Columns of the user id, the text and its time (datetimes, ISO text or
        Unix seconds). ``time_col=None``: no trend.
    topics : "auto", TopicModel or None
        ``"auto"``: fit a :class:`TopicModel` on a sample (number of topics by
        stability); a TopicModel: fitted here if it is not fitted yet, used as
        is if it is; ``None``: no topic columns.
    scorer : SentimentScorer, optional
        The sentiment model (default calibration when omitted).
    chunk_size : int
        Rows read and scored at a time.
    max_chars : int
        Texts are cut to this length (counted in ``report["cleaning"]["truncated"]``).
    smoothing : float
        Prior weight, in texts, that pulls ``sentiment_mean`` and
        ``negative_share`` toward the population's (0: plain means).
    prior : tuple of float, optional
        The population's mean sentiment, negative share and topic shares that
        ``smoothing`` pulls toward; by default those of ``source`` (given, so
        that a few users featured again get the numbers a full build gave them).
        The values used are in ``report["prior"]``.
    languages : bool
        Add ``lang_<code>`` columns: the share of the user's texts in each
        language of :data:`~userseg.text.lang.LANGUAGES`.
    progress : callable, optional
        Called with the number of rows read after each chunk.

    Returns
    -------
    TextFeatures

    Examples
    --------
    >>> df = pd.DataFrame({"user_id": [1, 1, 2], "time": ["2024-01-01", "2024-03-01", "2024-01-05"],
    ...                    "text": ["Love it", "Broke after a week, awful", "酒店服务很好"]})
    >>> user_text_features(df, topics=None).features.round(2)  # doctest: +SKIP
    """
    if not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise ConfigError(f"chunk_size should be an int >= 1; got {chunk_size!r}.")
    if not (isinstance(max_chars, int | np.integer) and max_chars >= 100):
        raise ConfigError(f"max_chars should be an int >= 100; got {max_chars!r}.")
    if not (isinstance(smoothing, int | float) and smoothing >= 0):
        raise ConfigError(f"smoothing should be a number >= 0; got {smoothing!r}.")
    if not (topics is None or topics == "auto" or isinstance(topics, TopicModel)):
        raise ConfigError(f"topics should be 'auto', a TopicModel or None; got {topics!r}.")
    scorer = scorer if scorer is not None else SentimentScorer()
    report: dict[str, Any] = {
        "rows": 0, "rows_without_user": 0, "rows_without_time": 0, "languages": {},
        "texts_scored": 0, "texts_negative": 0, "topics": None, "_languages": languages,
    }
    model = TopicModel() if topics == "auto" else topics
    if isinstance(model, TopicModel) and not hasattr(model, "nmf_"):
        sample = _sample_texts(source, text_col, chunk_size, model.sample, max_chars,
                               model.random_state)
        try:
            model.fit(sample)
        except DataError as exc:
            warnings.warn(f"no topic features: {exc}", DataQualityWarning, stacklevel=2)
            report["topics"] = str(exc)
            model = None
    columns = [user_col, text_col] + ([time_col] if time_col is not None else [])
    cols = (user_col, time_col, text_col)
    stats = CleanStats()
    total: pd.DataFrame | None = None
    for chunk in _chunks(source, columns, chunk_size):
        report["rows"] += len(chunk)
        part = _chunk_sums(chunk, cols, scorer, model, stats, report, max_chars)
        total = _merge(total, part)
        if progress is not None:
            progress(report["rows"])
    report.pop("_origin", None)
    report.pop("_languages", None)
    report["cleaning"] = stats.to_dict()
    report["texts"] = stats.texts - stats.empty
    report["texts_unscored"] = report["texts"] - report["texts_scored"]
    n_topics = model.n_topics_ if model is not None else 0
    if total is None or total.empty:
        raise DataError(
            f"text table: no non-empty text with a user among {report['rows']} rows "
            f"(column {text_col!r}, users in {user_col!r})."
        )
    features = _finish(total, n_topics, time_col is not None, smoothing, prior)
    report["prior"] = list(features.attrs.pop("prior"))
    features.index.name = user_col
    names = {f"topic_{j}": model.topic_names_[j] for j in range(n_topics)} if model else {}
    return TextFeatures(features=features, topic_names=names, topics=model, report=report)
