"""Text as a source of user features: sentiment and topics, in English and Chinese.

A self-contained engine, in data-flow order::

    clean_texts → detect_languages → SentimentScorer / TopicModel → user_text_features

Needs the ``text`` extra (``pip install 'userseg[text]'``: vaderSentiment,
jieba, snownlp), imported on first use; no model is downloaded at run time.
See ``docs/text.md``.
"""

from userseg.text.clean import DEFAULT_MAX_CHARS, CleanStats, clean_text, clean_texts
from userseg.text.lang import LANGUAGES, detect_language, detect_languages
from userseg.text.sentiment import (
    CALIBRATION,
    SUPPORTED_LANGUAGES,
    Calibration,
    SentimentScorer,
)
from userseg.text.topics import TopicModel
from userseg.text.user_features import TextFeatures, user_text_features

__all__ = [
    "CALIBRATION",
    "DEFAULT_MAX_CHARS",
    "LANGUAGES",
    "SUPPORTED_LANGUAGES",
    "Calibration",
    "CleanStats",
    "SentimentScorer",
    "TextFeatures",
    "TopicModel",
    "clean_text",
    "clean_texts",
    "detect_language",
    "detect_languages",
    "user_text_features",
]
