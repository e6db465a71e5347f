"""Request and response bodies of the REST service (pydantic models; the OpenAPI schema is built
from them).

Feature values are typed loosely here (``number | string | boolean | null``)
and checked by the model's compiled preparer
(:meth:`~userseg.features.compiled.CompiledPreparer.transform_records`), which
knows each feature's kind and names the feature that is wrong; a generic
validator could only say "not a number" at a JSON path.

The models are the one definition of a ``POST /v1/assign`` body. The quick
check :func:`parse_assign` runs first reads its limits and keys from their
JSON schema, and a property test (hypothesis) pins that the two accept and
refuse the same bodies.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    WithJsonSchema,
)

__all__ = [
    "ASSIGN_ADAPTER",
    "MAX_ASSIGN_BATCH",
    "MAX_EVENT_BATCH",
    "AssignBatch",
    "AssignBatchResponse",
    "AssignRequest",
    "AssignResponse",
    "Assignment",
    "ErrorResponse",
    "EventBatch",
    "EventsRequest",
    "EventsResponse",
    "HealthResponse",
    "ModelResponse",
    "RunsResponse",
    "SegmentEvent",
    "SegmentProfileResponse",
    "SegmentsResponse",
    "UserFeatures",
    "UserResponse",
    "extra_schemas",
    "parse_assign",
]

#: Most users in one ``POST /v1/assign`` request.
MAX_ASSIGN_BATCH = 1000
#: Most events in one ``POST /v1/events`` request (the live parser's own limit).
MAX_EVENT_BATCH = 1000

FeatureValue = Annotated[
    Any,
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}, {"type": "null"}]}
    ),
]
_MAX_ID = 256
UserId = Annotated[str, Field(min_length=1, max_length=_MAX_ID)]


# -- errors ----------------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `unauthorized`.")
    message: str = Field(description="One line: what is wrong, where, and what was expected.")
    details: dict[str, Any] = Field(description="Structured context (fields, limits, counts).")


class ErrorResponse(BaseModel):
    """The one JSON error shape of every endpoint and every status code."""

    error: ErrorDetail


# -- assign ----------------------------------------------------------------------------------
class UserFeatures(BaseModel):
    """One user's raw feature values, as the model was fitted on (see ``GET /v1/model``)."""

    model_config = ConfigDict(extra="forbid")
    user_id: UserId | None = Field(None, description="Echoed back; optional.")
    features: dict[str, FeatureValue] = Field(
        description="Feature name → value. Numeric features take a number or null (missing); "
        "categorical ones a string (a number is read as its text) or null; date features "
        "ISO text ('2024-05-01') or null. "
        "Every feature of the model is required; extra keys are ignored."
    )


class AssignBatch(BaseModel):
    """Several users at once (results come back in the same order)."""

    model_config = ConfigDict(extra="forbid")
    users: list[UserFeatures] = Field(min_length=1, max_length=MAX_ASSIGN_BATCH)


def _assign_kind(value: Any) -> str:
    if isinstance(value, dict) and "users" in value:
        return "batch"
    if isinstance(value, BaseModel):
        return "batch" if isinstance(value, AssignBatch) else "single"
    return "single"


AssignRequest = Annotated[
    Annotated[UserFeatures, Tag("single")] | Annotated[AssignBatch, Tag("batch")],
    Discriminator(_assign_kind),
]


#: The documented shape of a ``POST /v1/assign`` body (a one-of: one user, or a batch).
ASSIGN_ADAPTER: TypeAdapter[Any] = TypeAdapter(AssignRequest)


def _quick_check_limits() -> tuple[frozenset[str], int, int, int, int]:
    """What the quick check needs, read from the models' JSON schema (the one definition).

    Raises ``TypeError`` at import if the models grew something the quick check
    cannot judge (then teach it, and the property test shows whether it is right).
    """
    user = UserFeatures.model_json_schema()
    users = AssignBatch.model_json_schema()["properties"]["users"]
    (text,) = [s for s in user["properties"]["user_id"]["anyOf"] if s.get("type") == "string"]
    understood = (
        set(user["properties"]) == {"user_id", "features"}
        and user["required"] == ["features"]
        and user["properties"]["features"]["type"] == "object"
        and user.get("additionalProperties") is False
        and set(AssignBatch.model_json_schema()["properties"]) == {"users"}
    )
    if not understood:
        raise TypeError("parse_assign's quick check does not match the AssignRequest models.")
    return (
        frozenset(user["properties"]),
        text["minLength"],
        text["maxLength"],
        users["minItems"],
        users["maxItems"],
    )


_USER_KEYS, _ID_MIN, _ID_MAX, _BATCH_MIN, _BATCH_MAX = _quick_check_limits()


def parse_assign(body: bytes) -> tuple[bool, list[tuple[str | None, dict[str, Any]]]]:
    """Parse and validate a raw ``POST /v1/assign`` body: ``(is_batch, [(user_id, features)])``.

    The JSON is parsed by pydantic-core and its shape checked by a few plain
    comparisons (with the models' own limits) that accept exactly what
    :data:`AssignRequest` accepts. A body they refuse goes through the
    pydantic models, which give the canonical 422. Why not the models alone:
    they take twice the CPU time (about 12 ms against 6 for a 1,000-user body,
    10 µs against 5.5 for one user; docs/api.md), and the batch has 20 ms in all.

    Raises
    ------
    pydantic.ValidationError
        With locations relative to the body.
    """
    try:
        data = pydantic_core.from_json(body)
    except ValueError:
        data = None
    quick = _accept(data)
    if quick is not None:
        return quick
    if isinstance(data, dict) and "users" in data:
        batch = AssignBatch.model_validate_json(body)
        return True, [(u.user_id, u.features) for u in batch.users]
    one = UserFeatures.model_validate_json(body)
    return False, [(one.user_id, one.features)]


def _user(item: Any) -> tuple[str | None, dict[str, Any]] | None:
    """``(user_id, features)`` when ``item`` is a valid :class:`UserFeatures`, else None."""
    if type(item) is not dict or type(item.get("features")) is not dict:
        return None
    uid = item.get("user_id")
    if not item.keys() <= _USER_KEYS or (
        uid is not None and (type(uid) is not str or not _ID_MIN <= len(uid) <= _ID_MAX)
    ):
        return None
    return uid, item["features"]


def _accept(data: Any) -> tuple[bool, list[tuple[str | None, dict[str, Any]]]] | None:
    if type(data) is not dict:
        return None
    if "users" not in data:
        one = _user(data)
        return None if one is None else (False, [one])
    users = data["users"]
    if len(data) != 1 or type(users) is not list or not _BATCH_MIN <= len(users) <= _BATCH_MAX:
        return None
    out = [_user(u) for u in users]
    return None if None in out else (True, out)  # type: ignore[return-value]


def extra_schemas() -> dict[str, Any]:
    """JSON schemas of bodies parsed outside FastAPI, for the OpenAPI components."""
    schema = ASSIGN_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return defs | {"AssignRequest": schema | {"title": "AssignRequest"}}


class Assignment(BaseModel):
    user_id: str | None
    segment: int = Field(description="Segment id; -1 is noise (density models only).")
    name: str = Field(description='Segment name; "noise" for -1.')
    distance: float | None = Field(
        description="Distance to the segment's centre, mean or nearest core point, in "
        "prepared-feature units (null when the model has no reference point)."
    )


class AssignResponse(Assignment):
    """The segment of one user."""

    run_id: int = Field(description="The model version (stored run) that assigned it.")


class AssignBatchResponse(BaseModel):
    """The segment of each user, in request order."""

    run_id: int = Field(description="The model version (stored run) that assigned them.")
    users: list[Assignment]


# -- events ----------------------------------------------------------------------------------
class SegmentEvent(BaseModel):
    """A Segment-spec ``track`` or ``page`` call (other fields of the spec are accepted)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["track", "page"] = "track"
    userId: str | None = Field(None, max_length=256)
    anonymousId: str | None = Field(None, max_length=256)
    event: str | None = Field(None, max_length=256, description="Required for a track call.")
    properties: dict[str, Any] | None = Field(
        None,
        description="revenue/total/value/amount, price, quantity, category, order_id, "
        "session_id, rating, text (a review or message, at most 20,000 characters: it "
        "updates the user's text features).",
    )
    context: dict[str, Any] | None = None
    timestamp: str | None = Field(None, description="ISO 8601; now when absent.")
    sentAt: str | None = None
    messageId: str | None = Field(
        None, max_length=256, description="The event id: a message sent twice is stored once."
    )


class EventBatch(BaseModel):
    batch: list[SegmentEvent] = Field(min_length=1, max_length=MAX_EVENT_BATCH)


def _events_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if (isinstance(value, dict) and "batch" in value) or isinstance(value, EventBatch):
        return "batch"
    return "single"


EventsRequest = Annotated[
    Annotated[SegmentEvent, Tag("single")]
    | Annotated[list[SegmentEvent], Field(min_length=1, max_length=MAX_EVENT_BATCH), Tag("list")]
    | Annotated[EventBatch, Tag("batch")],
    Discriminator(_events_kind),
]


class UserSegment(BaseModel):
    user_id: str
    segment: int
    name: str
    distance: float | None
    previous_segment: int | None = Field(
        description="The segment before these events (live, else the run's); null when new."
    )
    changed: bool


class EventsResponse(BaseModel):
    accepted: int = Field(description="New events stored.")
    duplicates: int = Field(description="Events whose messageId was already stored.")
    texts: int = Field(0, description="New texts stored (properties.text).")
    run_id: int
    users: list[UserSegment]


# -- segments, runs, users, health -----------------------------------------------------------
class Distinction(BaseModel):
    feature: str
    z: float | None
    direction: str
    segment_value: float | None
    population_value: float | None
    level: str | None = None
    text: str


class SmallGroups(BaseModel):
    """What was not described because it holds fewer than ``min_group`` users."""

    min_group: int
    hidden_segments: list[int]
    hidden_cells: int
    note: str


class SegmentSummary(BaseModel):
    segment: int
    name: str
    name_source: str
    size: int | str = Field(description='Users, or the marker "<k" for a small segment.')
    share: float | str
    top_features: list[Distinction]
    suppressed: bool = Field(description="Fewer than min_group users: not described.")


class SegmentsResponse(BaseModel):
    run_id: int
    segments: list[SegmentSummary]
    small_groups: SmallGroups


class SegmentProfileResponse(SegmentSummary):
    run_id: int
    means: dict[str, float | None]
    zscores: dict[str, float | None]
    population: dict[str, float | None]
    categories: dict[str, dict[str, float | str | None]]
    distinctions: list[Distinction]
    small_groups: SmallGroups


class RunSummary(BaseModel):
    run_id: int
    created_at: dt.datetime
    algorithm: str
    n_segments: int
    n_users: int
    feature_set_id: int | None
    data_fingerprint: str | None
    library_version: str | None
    metrics: dict[str, Any]
    notes: list[str]
    served: bool = Field(description="Whether this service assigns with this run.")


class RunsResponse(BaseModel):
    served_run_id: int
    runs: list[RunSummary]


class HistoryEntry(BaseModel):
    run_id: int
    segment: int
    changed_at: dt.datetime
    reason: str | None


class UserResponse(BaseModel):
    user_id: str
    run_id: int
    segment: int
    name: str
    distance: float | None
    updated_at: dt.datetime | None
    history: list[HistoryEntry]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    run_id: int = Field(description="The model version being served.")
    algorithm: str
    n_segments: int
    version: str = Field(description="The userseg library version.")


class FeatureInfo(BaseModel):
    name: str
    kind: Literal["numeric", "categorical"]
    levels: list[str] | None = Field(
        description="Known levels of a categorical feature; another value counts as unseen."
    )


class ModelResponse(BaseModel):
    run_id: int
    algorithm: str
    n_segments: int
    max_batch: int = Field(description="Most users in one POST /v1/assign request.")
    features: list[FeatureInfo]
