"""Per-user text features from (user, time, text) tables, read in chunks."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import shared

from userseg.errors import ConfigError, DataError, DataQualityWarning, SchemaError
from userseg.text import SentimentScorer, TopicModel, clean_texts, user_text_features

pytest.importorskip("vaderSentiment")
pytest.importorskip("jieba")

HAPPY = ["Love it, perfect fit", "Great quality, very happy", "Beautiful colour, delighted"]
SAD = ["Terrible, it broke. Awful.", "Disappointed, cheap and ugly", "Worst purchase, horrible"]


def table() -> pd.DataFrame:
    rows = [
        # u1 turns from happy to sad; u2 stays happy; u3 writes Chinese; u4 French only.
        ("u1", "2024-01-01", HAPPY[0]),
        ("u1", "2024-02-01", HAPPY[1]),
        ("u1", "2024-03-01", SAD[0]),
        ("u1", "2024-04-01", SAD[1]),
        ("u2", "2024-01-05", HAPPY[2]),
        ("u2", "2024-01-09", HAPPY[0]),
        ("u3", "2024-01-02", "房间很脏，服务态度差，非常失望"),
        ("u3", "2024-01-03", "早餐难吃，很差"),
        ("u4", "2024-01-02", "C'est une très belle robe et le tissu est doux"),
    ]
    return pd.DataFrame(rows, columns=["user_id", "time", "text"])


def test_features_per_user_match_the_scores() -> None:
    df = table()
    res = user_text_features(df, topics=None)
    f = res.features
    assert list(f.columns) == [
        "text_count",
        "text_chars_mean",
        "sentiment_mean",
        "sentiment_trend",
        "negative_share",
    ]
    assert f.index.name == "user_id"
    assert f.loc["u1", "text_count"] == 4
    scores = SentimentScorer().score(clean_texts(df["text"]))
    u1 = scores[:4]
    assert f.loc["u1", "sentiment_mean"] == pytest.approx(u1.mean())
    assert f.loc["u1", "negative_share"] == pytest.approx(0.5)
    assert f.loc["u1", "sentiment_trend"] < -1.0  # from about +1 to about -1
    assert f.loc["u2", "negative_share"] == 0.0
    assert f.loc["u3", "sentiment_mean"] < 0 and f.loc["u3", "negative_share"] == 1.0
    # Nothing a model can read: no sentiment, but the text still counts.
    assert f.loc["u4", "text_count"] == 1
    assert np.isnan(f.loc["u4", "sentiment_mean"]) and np.isnan(f.loc["u4", "negative_share"])
    assert f.loc["u4", "sentiment_trend"] == 0.0
    assert f.loc["u2", "text_chars_mean"] == pytest.approx(np.mean([len(HAPPY[2]), len(HAPPY[0])]))
    assert res.report["languages"] == {"en": 6, "zh": 2, "other": 1}
    assert res.report["texts_scored"] == 8 and res.report["texts_unscored"] == 1


def test_two_texts_trend_is_their_difference() -> None:
    df = pd.DataFrame(
        {"user_id": [1, 1], "time": [1_700_000_000, 1_700_086_400], "text": [HAPPY[0], SAD[0]]}
    )
    f = user_text_features(df, topics=None).features
    s = SentimentScorer().score(df["text"].tolist())
    assert f.loc[1, "sentiment_trend"] == pytest.approx(s[1] - s[0])


def big_table(n_users: int = 60, per_user: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    topics = [
        "size small large tight waist",
        "delivery parcel courier late box",
        "colour blue red faded bright",
    ]
    rows = []
    for u in range(n_users):
        for j in range(per_user):
            tone = HAPPY if rng.random() < 0.6 else SAD
            rows.append(
                (
                    f"user{u}",
                    pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(j * 9)),
                    f"{rng.choice(tone)} {rng.choice(topics)}",
                )
            )
    return pd.DataFrame(rows, columns=["user_id", "time", "text"]).sample(frac=1, random_state=1)


def test_chunked_reading_gives_the_same_features() -> None:
    df = big_table()
    model = TopicModel(n_topics=3).fit(clean_texts(df["text"]))
    whole = user_text_features(df, topics=model, chunk_size=100_000).features
    chunked = user_text_features(df, topics=model, chunk_size=7).features
    # Sentiment sums are exact; NMF's transform iterates to a tolerance over the
    # rows it is given, so topic shares agree to that tolerance.
    pd.testing.assert_frame_equal(whole.sort_index(), chunked.sort_index(), rtol=1e-4)
    topics = [c for c in whole if c.startswith("topic_")]
    pd.testing.assert_frame_equal(
        whole.drop(columns=topics).sort_index(),
        chunked.drop(columns=topics).sort_index(),
        rtol=1e-9,
    )
    shares = whole[[f"topic_{j}" for j in range(3)]].sum(axis=1)
    assert np.allclose(shares, 1.0)


def test_every_kind_of_source_reads_the_same() -> None:
    df = big_table(20, 5)
    expected = user_text_features(df, topics=None).features.sort_index()
    con = duckdb.connect()
    con.register("texts_df", df)
    sources = [
        pa.Table.from_pandas(df, preserve_index=False),
        con.sql("SELECT * FROM texts_df"),
        lambda: (df.iloc[i : i + 13] for i in range(0, len(df), 13)),
        lambda: pa.Table.from_pandas(df, preserve_index=False).to_batches(max_chunksize=11),
    ]
    for source in sources:
        got = user_text_features(source, topics=None, chunk_size=17).features.sort_index()
        pd.testing.assert_frame_equal(expected, got, check_index_type=False, rtol=1e-9)


def test_topics_auto_are_fitted_on_a_sample_and_named() -> None:
    res = user_text_features(big_table(), topics=TopicModel(k_range=(2, 5), sample=200))
    assert res.topics is not None and res.topics.n_topics_ >= 2
    assert list(res.topic_names) == [f"topic_{j}" for j in range(res.topics.n_topics_)]
    assert all(" / " in name for name in res.topic_names.values())


def test_too_little_text_for_topics_warns_and_goes_on() -> None:
    tiny = pd.DataFrame(
        {"user_id": [1, 2, 3], "time": [0, 0, 0], "text": ["Love it", "Awful", "great"]}
    )
    with pytest.warns(DataQualityWarning, match="no topic features"):
        res = user_text_features(tiny)
    assert res.topics is None and "topic_0" not in res.features
    assert "too little text" in res.report["topics"]


def test_bad_values_are_handled_and_counted_never_a_crash() -> None:
    df = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "a", "a", "b", "b", None, "c"],
            "time": [
                "2024-01-01",
                "not a date",
                None,
                "2024-01-04",
                "2024-01-05",
                "2024-01-01",
                "2024-01-02",
                "2024-01-03",
                "2024-01-09",
            ],
            "text": [
                "",
                None,
                "Great &#34;sound&#34;<br/>works",
                "donâ€™t buy, broken 😡",
                "great " * 200_000,
                "😍😍",
                "房间很好".encode("gbk"),
                "orphan text",
                "   ",
            ],
        }
    )
    res = user_text_features(df, topics=None, max_chars=5_000)
    rep = res.report
    assert rep["rows"] == 9 and rep["rows_without_user"] == 1
    c = rep["cleaning"]
    assert c["empty"] == 3 and c["missing"] == 1
    assert c["html_entities"] == 1 and c["html_tags"] == 1
    assert c["mojibake_repaired"] == 1 and c["legacy_encoding"] == 1
    assert c["truncated"] == 1 and c["emoji"] == 2
    assert rep["rows_without_time"] == 1  # "not a date" (None's text is empty: not counted)
    f = res.features
    assert set(f.index) == {"a", "b"}  # c wrote only blanks
    assert f.loc["a", "text_count"] == 3 and f.loc["b", "text_count"] == 2
    assert f.loc["a", "text_chars_mean"] < 5_000
    assert np.isfinite(f["sentiment_mean"]).all()


def test_smoothing_pulls_toward_the_population() -> None:
    df = table()
    raw = user_text_features(df, topics=None).features
    smooth = user_text_features(df, topics=None, smoothing=5).features
    assert abs(smooth.loc["u3", "sentiment_mean"]) < abs(raw.loc["u3", "sentiment_mean"])
    assert 0 < smooth.loc["u2", "negative_share"] < 1


def test_bad_tables_and_parameters_are_clear_errors() -> None:
    df = table()
    with pytest.raises(SchemaError, match=r"column\(s\) \['review'\] not found; available"):
        user_text_features(df, text_col="review", topics=None)
    with pytest.raises(DataError, match="no non-empty text with a user among 2 rows"):
        user_text_features(
            pd.DataFrame({"user_id": [1, 2], "time": [0, 0], "text": ["", None]}), topics=None
        )
    for kwargs, message in [
        ({"chunk_size": 0}, "chunk_size should be an int >= 1"),
        ({"max_chars": 10}, "max_chars should be an int >= 100"),
        ({"smoothing": -1}, "smoothing should be a number >= 0"),
        ({"topics": "lots"}, "topics should be 'auto', a TopicModel or None"),
    ]:
        with pytest.raises(ConfigError, match=message):
            user_text_features(df, **kwargs)
    with pytest.raises(ConfigError, match="source should be a pandas DataFrame"):
        user_text_features([("u", "t", "x")], topics=None)


def test_no_time_column_means_no_trend() -> None:
    f = user_text_features(table().drop(columns="time"), time_col=None, topics=None).features
    assert "sentiment_trend" not in f


@pytest.mark.realdata
def test_amazon_users_mean_sentiment_follows_their_mean_rating() -> None:
    path = shared("amazon_musical_instruments_5core", "Musical_instruments_reviews.csv")
    df = pd.read_csv(path)
    f = user_text_features(
        df, user_col="reviewerID", text_col="reviewText", time_col="unixReviewTime", topics=None
    ).features
    rating = df.groupby("reviewerID")["overall"].mean().reindex(f.index)
    assert len(f) == 1429
    # Measured +0.430 (Pearson) and -0.410 for the negative share.
    scored = f["sentiment_mean"].notna()
    assert scored.sum() >= 1425
    assert np.corrcoef(f.loc[scored, "sentiment_mean"], rating[scored])[0, 1] > 0.38
    assert np.corrcoef(f.loc[scored, "negative_share"], rating[scored])[0, 1] < -0.36
