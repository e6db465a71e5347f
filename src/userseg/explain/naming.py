"""Descriptive segment names a marketer understands, generated from what sets a segment apart.

A name is an adjective (when? how engaged?) and a noun (what do they do?):
"Recent high spenders", "Lapsed one-time buyers", "New window shoppers".
Both come from the segment's distinguishing features (|z| ≥ 0.5) through a
small lexicon of behavioural features, in a fixed order of preference: a
segment is named by its buying behaviour (frequency, spend) before its
browsing or its taste, and by its recency before its age. Features outside
the lexicon are read through their words (``MntMeatProducts`` is "meat
products spend": more of it makes "meat lovers"; ``NumWebPurchases`` makes
"frequent web buyers"), else give a generic "High …"/"Low …" phrase only
when nothing better applies. A name states an absolute fact ("one-time
buyers", "New") only when it holds for most of the segment, not on average
("New one-time buyers" once named customers of 482 days, most of whom had
bought twice): otherwise it compares ("Newer", "occasional buyers"). Names
are deterministic and unique within a run; a person can replace any of them
(``userseg rename``), and the new name is kept with the run.
"""

from __future__ import annotations

import unicodedata

from userseg.errors import ConfigError, UsersegError
from userseg.explain.profiles import NEW_DAYS, Distinction, SegmentProfile

__all__ = ["LEXICON", "name_segments"]

#: feature → (role, phrase when higher than average, phrase when lower), in order of preference.
LEXICON: dict[str, tuple[str, str | None, str | None]] = {
    # adjectives: when, and how engaged
    "recency_days": ("adj", "Lapsed", "Recent"),
    "days_since_purchase": ("adj", None, None),  # non-buyers are "long since": not a name
    "tenure_days": ("adj", "Long-standing", "New"),
    "signup_date_days": ("adj", "Long-standing", "New"),
    "active_days": ("adj", "Highly active", "Quiet"),
    "n_events": ("adj", "Highly active", "Quiet"),
    "sessions": ("adj", "Highly active", "Quiet"),
    "avg_rating": ("adj", "Happy", "Unhappy"),
    # what their own words say (text features): named first, before when and how engaged
    "sentiment_mean": ("adj", None, "Unhappy"),
    "negative_share": ("adj", "Unhappy", None),
    "text_count": ("adj", "Vocal", None),
    "age": ("adj", "Older", "Younger"),
    # nouns: what they do
    "return_rate": ("noun", "serial returners", None),
    "monetary": ("noun", "high spenders", "low spenders"),
    "frequency": ("noun", "frequent buyers", "occasional buyers"),
    "avg_order_value": ("noun", "big-basket buyers", "small-basket buyers"),
    "view_to_purchase": ("noun", "converters", "window shoppers"),
    "cart_to_purchase": ("noun", "decisive buyers", "cart abandoners"),
    "view_to_cart": ("noun", "cart fillers", "browsers"),
}
_ORDER = {name: i for i, name in enumerate(LEXICON)}
_TONE = frozenset({"sentiment_mean", "negative_share"})
_MIN_Z = 0.5


_MOST = 0.5  # "most of the segment": more than half of it


def _label(feature: str, labels: dict[str, str]) -> str:
    return labels.get(feature) or feature.replace("_", " ")


def _buyers(p: SegmentProfile) -> str | None:
    """ "one-time buyers", "window shoppers" or "non-buyers" when most of the segment is."""
    once, never = p.facts.get("frequency==1"), p.facts.get("frequency==0")
    if once is None and never is None:  # a profile stored before facts were kept
        mean = p.means.get("frequency", 0.0)
        once, never = float(mean >= 0.5), float(mean < 0.5)
    if once is not None and once > _MOST:
        return "one-time buyers"
    if never is not None and never > _MOST:
        return "window shoppers" if "view_to_purchase" in p.means else "non-buyers"
    return None


def _new(p: SegmentProfile, feature: str) -> str:
    """ "New" when most of the segment joined within NEW_DAYS, else the comparative "Newer"."""
    share = p.facts.get(f"{feature}<={NEW_DAYS}")
    return "New" if share is None or share > _MOST else "Newer"


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _spend_thing(label: str) -> str:
    """ "meat products spend" → "meat"; "wines spend" → "wine"."""
    words = label.removesuffix(" spend").split()
    while len(words) > 1 and words[-1] in ("products", "product", "prods"):
        words = words[:-1]
    words[-1] = _singular(words[-1])
    return " ".join(words)


def _worded(
    d: Distinction, p: SegmentProfile, label: str, spend_features: int
) -> tuple[str, int, str] | None:
    """A phrase from a feature's words, for features outside the lexicon (None: no rule)."""
    up = d.z > 0
    if label.endswith(" spend"):
        if spend_features >= 2:  # more (or less) on every product is spending, not taste
            return ("noun", 540, "big spenders" if up else "light spenders")
        return ("noun", 500, f"{_spend_thing(label)} lovers") if up else None
    if label.endswith(" purchases") and up:
        channel = label.removesuffix(" purchases")
        if channel in ("deals", "deal", "discount", "discounts", "promo", "promotion"):
            return ("noun", 510, "deal hunters")
        return ("noun", 520, f"frequent {_singular(channel)} buyers")
    if label == "birth year":  # born later is younger
        return ("adj", _ORDER["age"], "Younger" if up else "Older")
    if label.startswith("days since "):  # days before a date: high means long ago
        what = label.removeprefix("days since ")
        return ("adj", 1000, f"{'Long-ago' if up else 'Recent'} {what}")
    return None


def _phrase(
    d: Distinction,
    p: SegmentProfile,
    dates: frozenset[str] = frozenset(),
    labels: dict[str, str] | None = None,
) -> tuple[str, int, str] | None:
    """(role, preference, phrase) for one distinction, or None when it makes no phrase."""
    labels = labels or {}
    if d.level is not None:  # an over-represented categorical level
        return ("qual", 900, f"{_label(d.feature, labels)} {d.level}")
    if d.feature in LEXICON:
        role, hi, lo = LEXICON[d.feature]
        text = hi if d.z > 0 else lo
        if d.feature == "frequency" and d.z < 0:
            mean = p.means.get("frequency", d.segment_value)
            buyers = _buyers(p) if mean < 1.6 else None
            if buyers:  # (almost) nobody buys twice: that defines the segment
                # it defines the segment, unless the segment is one of serial returners
                return (role, _ORDER["return_rate"] + 0.5, buyers)
        if d.feature in ("tenure_days", "signup_date_days") and d.z < 0:
            text = _new(p, d.feature)
        if d.feature in _TONE:  # a segment that complains is named for it first
            return (role, -1, text) if text else None
        return (role, _ORDER[d.feature], text) if text else None
    if d.feature.startswith("topic_"):  # what they write about more than others do
        if d.z > 0:
            words = _label(d.feature, labels).removeprefix("topic ")
            return ("about", 0, words.split(" / ")[0])
        return None
    if d.feature.startswith("share_"):
        # a category they buy more of names them; one they buy less of does not ("Low
        # share other ..." read as noise in a trial)
        if d.z > 0:
            return ("noun", 500, f"{d.feature[len('share_') :].replace('_', ' ')} lovers")
        return None
    label = _label(d.feature, labels)
    if d.feature in dates and not label.startswith("days since "):
        label = f"days since {label}"  # days before the latest date: high means long ago
    spend = sum(
        1
        for x in p.distinctions
        if abs(x.z) >= _MIN_Z
        and x.level is None
        and (x.z > 0) == (d.z > 0)
        and _label(x.feature, labels).endswith(" spend")
    )
    worded = _worded(d, p, label, spend)
    if worded is not None or label.endswith(" spend"):
        return worded
    return ("adj", 1000, f"{'High' if d.z > 0 else 'Low'} {label}")


def _name_one(
    p: SegmentProfile,
    dates: frozenset[str] = frozenset(),
    labels: dict[str, str] | None = None,
) -> tuple[str, list[str]]:
    """The name of one segment and its spare phrases (for making names unique).

    The adjective is the lexicon adjective of the largest |z| (a generic one only
    when no lexicon feature distinguishes the segment); the noun the most
    preferred lexicon noun. A segment of (mostly) one-time or non-buyers is named
    so even when its frequency is not far from the average in z.
    """
    strong = [d for d in p.distinctions if abs(d.z) >= _MIN_Z]
    seg_f, pop_f = p.means.get("frequency"), p.population.get("frequency")
    if (
        seg_f is not None
        and pop_f is not None
        and seg_f < 1.6 <= pop_f
        and not any(d.feature == "frequency" for d in strong)
        and _buyers(p) is not None
    ):
        strong.append(Distinction("frequency", -_MIN_Z, "lower", seg_f, pop_f))
    found = [(ph, abs(d.z)) for d in strong if (ph := _phrase(d, p, dates, labels))]
    adjs = sorted(
        (pref >= 1000, pref >= 0, -z, text) for (role, pref, text), z in found if role == "adj"
    )
    adjs = [(0, text) for *_, text in adjs]
    abouts = sorted((-z, text) for (role, _, text), z in found if role == "about")
    about = f" who write about {abouts[0][1]}" if abouts else ""
    # among equally preferred nouns the most distinctive wins (the text only breaks ties):
    # sorted by text alone, "jumbo bag lovers" named a segment set apart by lunch bags
    nouns = sorted((pref, -z, text) for (role, pref, text), z in found if role == "noun")
    nouns = [(pref, text) for pref, _, text in nouns]
    found = [ph for ph, _ in found]
    adj = adjs[0][1] if adjs else None
    noun = nouns[0][1] if nouns else None
    spare = (
        [t for _, t in nouns[1:]]
        + [t.lower() for _, t in adjs[1:] if t != adj]
        + [t for role, _, t in found if role == "qual"]
    )
    if adj is None and noun is None:
        return ("Users" + about if about else "Typical users"), spare
    if noun is None:
        return f"{adj} users{about}", spare
    name = f"{adj} {noun}" if adj else noun[0].upper() + noun[1:]
    return name + about, spare


def name_segments(
    profiles: list[SegmentProfile],
    *,
    date_features: list[str] | None = None,
    feature_labels: dict[str, str] | None = None,
) -> list[str]:
    """Generate one unique descriptive name per profile (in the profiles' order).

    ``date_features`` are features measured in days before a date (a signup
    date turned into a number): higher means longer ago, not "high".
    ``feature_labels`` gives the words of a feature (``mntwines`` → "wine
    spend"); by default its name with "_" read as spaces.
    """
    dates = frozenset(date_features or ())
    drafts = [_name_one(p, dates, feature_labels) for p in profiles]
    names = [n for n, _ in drafts]
    for i, (name, spare) in enumerate(drafts):
        if names.count(name) > 1:
            extra = next((s for s in spare if f"{name}, {s}" not in names), None)
            if extra:
                names[i] = f"{name}, {extra}"
    repeated = {n for n in names if names.count(n) > 1}
    seen: dict[str, int] = {}
    for i, name in enumerate(names):  # still equal: number them, stably
        if name in repeated:
            seen[name] = seen.get(name, 0) + 1
            names[i] = f"{name} ({seen[name]})"
    return names


#: Longest name a person may give a segment (it is shown in tables, exports and SQL comments).
MAX_NAME_LENGTH = 120


def check_segment_name(name: str, error: type[UsersegError] = ConfigError) -> str:
    """A name chosen by a person, trimmed; refused when empty, too long or with control characters.

    Names travel into CSV exports, SQL comments (``userseg rules --sql``) and HTTP
    responses: a newline in one would end a comment and let the rest of the name run
    as SQL, so line breaks, tabs and other control characters are refused.
    ``error`` is the exception raised (the store reports bad names as data errors).
    """
    if not isinstance(name, str):
        raise error(f"a segment name must be text; got {type(name).__name__}.")
    name = name.strip()
    if not name:
        raise error("a segment name cannot be empty.")
    if len(name) > MAX_NAME_LENGTH:
        raise error(
            f"a segment name can have at most {MAX_NAME_LENGTH} characters; got {len(name)}."
        )
    bad = sorted({c for c in name if unicodedata.category(c).startswith("C")})
    if bad:
        shown = ", ".join(repr(c) for c in bad[:3])
        raise error(
            f"a segment name cannot contain line breaks or other control characters; "
            f"found {shown} in {name[:60]!r}."
        )
    return name
