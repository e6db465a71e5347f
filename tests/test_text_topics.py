"""Topics: TF-IDF + NMF, number chosen by stability, named by their top words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import shared

from userseg.errors import ConfigError, DataError, NotFittedError
from userseg.text import TopicModel, clean_texts

pytest.importorskip("jieba")
pytest.importorskip("sklearn")

THEMES = {
    "shipping": [
        "delivery",
        "courier",
        "parcel",
        "shipping",
        "arrived",
        "late",
        "tracking",
        "package",
        "box",
    ],
    "size": ["size", "small", "large", "waist", "length", "tight", "loose", "sleeves", "petite"],
    "colour": ["colour", "color", "red", "blue", "green", "shade", "bright", "faded", "pattern"],
}
FILLER = ["today", "item", "order", "again", "friend", "gift", "store", "online"]


def themed_texts(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    names = list(THEMES)
    truth = rng.integers(0, len(names), n)
    texts = [
        " ".join(rng.choice(THEMES[names[t]], 6)) + " " + " ".join(rng.choice(FILLER, 2))
        for t in truth
    ]
    return texts, truth


def test_auto_finds_the_three_themes_and_names_them() -> None:
    texts, truth = themed_texts(600)
    model = TopicModel(k_range=(2, 6)).fit(texts)
    assert model.n_topics_ == 3
    assert set(model.stability_) == {2, 3, 4, 5, 6}
    found = sorted(
        next(name for name, words in THEMES.items() if top[0] in words)
        for top in model.topic_words_
    )
    assert found == sorted(THEMES)
    assert len(set(model.topic_names_)) == 3
    assert all(name.count(" / ") == 2 for name in model.topic_names_)
    shares = model.transform(texts)
    assert shares.shape == (600, 3)
    assert np.allclose(shares.sum(axis=1), 1.0)
    # Each text's main topic is its theme (up to the topics' order).
    main = shares.argmax(axis=1)
    agree = pd.crosstab(main, truth).max(axis=1).sum() / len(truth)
    assert agree > 0.95


def test_a_text_with_no_known_word_has_no_topic() -> None:
    texts, _ = themed_texts(300)
    model = TopicModel(n_topics=3).fit(texts)
    out = model.transform(["", "zzz qqq", "blue red green"])
    assert np.all(out[:2] == 0)
    assert out[2].sum() == pytest.approx(1.0)


def test_english_and_chinese_texts_get_topics_apart() -> None:
    rng = np.random.default_rng(1)
    en, _ = themed_texts(300)
    zh_words = ["早餐", "房间", "服务", "前台", "价格", "位置"]
    zh = ["".join(rng.choice(zh_words, 5)) + "很好" for _ in range(300)]
    model = TopicModel(n_topics=4).fit(en + zh)
    shares = model.transform(en + zh)
    zh_topics = {j for j, top in enumerate(model.topic_words_) if top[0] in zh_words}
    assert zh_topics, model.topic_words_
    in_zh = shares[:, sorted(zh_topics)].sum(axis=1)
    assert in_zh[300:].mean() > 0.95 and in_zh[:300].mean() < 0.05


def test_too_little_text_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="too little text to find topics"):
        TopicModel().fit(["", "ok", "the and"])
    texts, _ = themed_texts(40)
    with pytest.raises(DataError, match="n_topics=30 is more than these texts support"):
        TopicModel(n_topics=30).fit(texts)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_topics": 0}, "n_topics should be 'auto' or an int >= 1"),
        ({"n_topics": "many"}, "n_topics should be 'auto'"),
        ({"k_range": (1, 4)}, "k_range should be"),
        ({"max_df": 0.0}, "max_df should be in"),
    ],
)
def test_bad_parameters_are_refused_in_fit(params: dict, message: str) -> None:
    model = TopicModel(**params)  # __init__ only stores
    with pytest.raises(ConfigError, match=message):
        model.fit(themed_texts(50)[0])


def test_transform_before_fit() -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        TopicModel().transform(["hello"])
    assert TopicModel().set_params(n_topics=4).get_params()["n_topics"] == 4
    with pytest.raises(ConfigError, match="no parameter 'k'"):
        TopicModel().set_params(k=3)


@pytest.mark.realdata
def test_hotel_reviews_give_hotel_aspects() -> None:
    df = pd.read_csv(shared("chnsenticorp_htl_all", "ChnSentiCorp_htl_all.csv"))
    model = TopicModel(sample=3000).fit(clean_texts(df["review"]))
    words = {w for top in model.topic_words_ for w in top[:5]}
    assert 3 <= model.n_topics_ <= 8
    assert len(words & {"早餐", "服务", "价格", "位置", "房间", "前台", "设施", "环境"}) >= 3
