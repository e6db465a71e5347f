"""Playbooks: which segments get which suggested actions, as data (YAML, validated).

A playbook lists plays; a play picks segments by what their profile says and
suggests actions for them. Nothing is sent here: the actions are data that
``audience`` / ``campaign`` commands can read (:func:`match_playbook` gives
them per segment of a run).

.. code-block:: yaml

    scenario: bank
    description: Risk tiers of card customers
    plays:
      - name: risk review
        when:                        # every condition must hold (z: SDs from all users)
          - {feature: late_payments, z_above: 0.5}
        actions:
          - {type: risk_review, channel: account_manager, note: "Review limits"}

A condition reads one of the profile's features (``z_above`` / ``z_below``:
the segment's mean in standard deviations from all users; ``share_above`` /
``share_below`` for a category share, e.g. ``feature: category``, ``level:
news``) or one of its value figures (``value: churn_risk`` or ``value_mean``
with ``above`` / ``below``). Plays are tried in order; a segment takes the
first that matches (``default: true`` matches any segment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from userseg.errors import ConfigError

__all__ = ["ACTION_TYPES", "Playbook", "load_playbook", "match_playbook", "playbook_path"]

ACTION_TYPES = (
    "exclusive_offer",
    "targeted_recommendation",
    "churn_rescue",
    "risk_review",
    "health_follow_up",
    "nurture",
    "content_digest",
    "no_action",
)
_FOLDER = Path(__file__).resolve().parent / "playbooks"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Action(_Strict):
    type: Literal[
        "exclusive_offer",
        "targeted_recommendation",
        "churn_rescue",
        "risk_review",
        "health_follow_up",
        "nurture",
        "content_digest",
        "no_action",
    ]
    channel: Literal["email", "push", "sms", "in_app", "phone", "account_manager", "none"] = "email"
    note: str = Field("", max_length=500)


class Condition(_Strict):
    feature: str | None = Field(None, min_length=1)
    level: str | None = Field(None, min_length=1)
    value: Literal["churn_risk", "value_mean", "p_alive_mean"] | None = None
    z_above: float | None = None
    z_below: float | None = None
    share_above: float | None = Field(None, ge=0, le=1)
    share_below: float | None = Field(None, ge=0, le=1)
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if (self.feature is None) == (self.value is None):
            raise ValueError("give one of feature or value")
        if self.feature is not None:
            tests = (
                [self.z_above, self.z_below]
                if self.level is None
                else [
                    self.share_above,
                    self.share_below,
                ]
            )
        else:
            tests = [self.above, self.below]
        if sum(t is not None for t in tests) != 1:
            raise ValueError(
                "a feature takes one of z_above / z_below (or, with a level, share_above / "
                "share_below); a value one of above / below"
            )
        return self

    def holds(self, profile: Any) -> bool:
        if self.value is not None:
            figure = (getattr(profile, "value", None) or {}).get(self.value)
            if figure is None:
                return False
            return figure > self.above if self.above is not None else figure < self.below
        if self.level is not None:
            share = (profile.categories.get(self.feature) or {}).get(self.level)
            if share is None:
                return False
            return (
                share > self.share_above
                if self.share_above is not None
                else (share < self.share_below)
            )
        z = profile.zscores.get(self.feature)
        if z is None:
            return False
        return z > self.z_above if self.z_above is not None else z < self.z_below


class Play(_Strict):
    name: str = Field(min_length=1, max_length=80)
    when: list[Condition] = Field(default_factory=list)
    default: bool = False
    actions: list[Action] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_a_rule(self) -> Play:
        if not self.when and not self.default:
            raise ValueError("a play needs conditions under `when`, or `default: true`")
        return self

    def matches(self, profile: Any) -> bool:
        return self.default or all(c.holds(profile) for c in self.when)


class Playbook(_Strict):
    scenario: str = Field(min_length=1)
    description: str = ""
    plays: list[Play] = Field(min_length=1)


def playbook_path(scenario: str) -> Path:
    """The playbook shipped for a scenario (shop, bank, clinic, social, travel)."""
    path = _FOLDER / f"{scenario}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in _FOLDER.glob("*.yaml"))
        raise ConfigError(f"no playbook for scenario {scenario!r}; playbooks: {', '.join(known)}.")
    return path


def load_playbook(source: str | Path | dict[str, Any]) -> Playbook:
    """Read and validate a playbook (a YAML file or its parsed dict).

    Raises
    ------
    ConfigError
        Unreadable YAML, or a playbook that breaks the schema: every problem
        listed with where it is (``plays.1.actions.0.type: …``).
    """
    where = "playbook"
    if isinstance(source, str | Path):
        import yaml

        where = str(source)
        try:
            data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read playbook {source}: {exc.strerror or exc}.") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"playbook {source} is not valid YAML: {exc}") from None
    else:
        data = source
    if not isinstance(data, dict):
        raise ConfigError(f"{where} should be a mapping with scenario and plays.")
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError(
            f"{where} breaks the playbook schema: " + "; ".join(problems),
            details={"problems": problems},
        ) from None


def match_playbook(playbook: Playbook, profiles: list[Any]) -> dict[int, dict[str, Any]]:
    """Segment id → the first matching play's name and actions (segments no play matches: none)."""
    out: dict[int, dict[str, Any]] = {}
    for p in profiles:
        for play in playbook.plays:
            if play.matches(p):
                out[int(p.segment)] = {
                    "segment": int(p.segment),
                    "name": p.name,
                    "play": play.name,
                    "actions": [a.model_dump() for a in play.actions],
                }
                break
    return out
