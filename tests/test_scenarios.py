"""The seed's scenarios: generated data with planted groups, segmented end to end by
`userseg demo --scenario`, and the playbooks that map segments to actions (validated)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from userseg.cli.app import app
from userseg.errors import ConfigError
from userseg.explain.profiles import SegmentProfile
from userseg.jobs import pipeline
from userseg.scenarios import (
    ACTION_TYPES,
    SCENARIOS,
    generate,
    load_playbook,
    match_playbook,
    playbook_path,
)

#: The play each planted group should get from its scenario's playbook.
EXPECTED_PLAYS = {
    "bank": {"high risk": "risk review", "medium risk": "watch utilisation"},
    "clinic": {"high risk": "close follow-up", "rising risk": "prevention programme"},
    "social": {
        "news": "news readers",
        "entertainment": "entertainment fans",
        "social": "social networkers",
    },
    "travel": {"outdoor": "outdoor", "culture": "culture", "leisure": "leisure"},
}


def test_generation_is_seeded_and_keeps_the_truth_apart() -> None:
    users, events, truth = generate("bank", 300, seed=4)
    users2, events2, _ = generate("bank", 300, seed=4)
    assert users.equals(users2) and events.equals(events2)
    assert "group" not in users.column_names and "group" not in events.column_names
    groups = set(truth.column("group").to_pylist())
    assert groups == {g.name for g in SCENARIOS["bank"].groups}
    with pytest.raises(ConfigError, match="scenario 'zoo' is not one of shop, bank"):
        generate("zoo")


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_each_scenario_is_segmented_end_to_end(scenario, tmp_path) -> None:
    out = tmp_path / scenario
    res = CliRunner().invoke(
        app, ["demo", "--scenario", scenario, "--users", "1500", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    truth = pd.read_csv(out / "groups.csv").set_index("user_id")["group"]
    with pipeline.open_db(summary["database"]) as db:
        from userseg.store import load_assignments

        assigned = load_assignments(db, summary["run_id"]).set_index("user_id")["segment"]
    ari = adjusted_rand_score(truth.loc[assigned.index], assigned)
    assert ari >= 0.8, f"{scenario}: ARI {ari:.3f}"
    # every segment gets a play; each planted group's main segment gets its own
    plays = {p["segment"]: p for p in summary["playbook"]}
    assert set(plays) == {s["segment"] for s in summary["segments"]}
    main = assigned.groupby(truth.loc[assigned.index]).agg(lambda s: s.mode().iloc[0])
    for group, play in EXPECTED_PLAYS[scenario].items():
        assert plays[int(main[group])]["play"] == play, (group, plays)
    assert all(a["type"] in ACTION_TYPES for p in plays.values() for a in p["actions"])


def test_unknown_scenario_exits_2(tmp_path) -> None:
    res = CliRunner().invoke(app, ["demo", "--scenario", "zoo", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "--scenario 'zoo' is not one of shop" in res.output
    assert not any(tmp_path.iterdir())  # nothing written


def test_review_texts_are_written_for_the_shop_only(tmp_path) -> None:
    """``--text`` writes persona reviews for the shop; another scenario says so, writes nothing."""
    res = CliRunner().invoke(
        app, ["demo", "--scenario", "bank", "--text", "--out", str(tmp_path / "d")]
    )
    assert res.exit_code == 2 and "--text writes reviews for the shop scenario only" in res.output
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("scenario", ["shop", *sorted(SCENARIOS)])
def test_every_shipped_playbook_is_valid(scenario) -> None:
    book = load_playbook(playbook_path(scenario))
    assert book.scenario == scenario and book.plays
    assert book.plays[-1].default  # every segment gets something


def _profile(segment: int, **z: float) -> SegmentProfile:
    return SegmentProfile(segment, 10, 0.1, means={}, zscores=z, name=f"s{segment}")


def test_match_playbook_takes_the_first_play_that_holds() -> None:
    book = load_playbook(playbook_path("bank"))
    profiles = [
        _profile(0, late_payments=2.0, utilisation=1.0),
        _profile(1, late_payments=0.1, utilisation=0.9),
        _profile(2, income=1.0),
        _profile(3),
    ]
    got = {s: m["play"] for s, m in match_playbook(book, profiles).items()}
    assert got == {
        0: "risk review",
        1: "watch utilisation",
        2: "premium offers",
        3: "everyone else",
    }
    shop = load_playbook(playbook_path("shop"))
    leaving = _profile(4, monetary=0.5)
    leaving.value = {"churn_risk": 0.7}
    assert match_playbook(shop, [leaving])[4]["play"] == "rescue lapsing spenders"


@pytest.mark.parametrize(
    ("book", "match"),
    [
        ({"scenario": "x", "plays": []}, "plays: List should have at least 1 item"),
        (
            {
                "scenario": "x",
                "plays": [{"name": "p", "default": True, "actions": [{"type": "x"}]}],
            },
            "plays.0.actions.0.type: Input should be 'exclusive_offer'",
        ),
        (
            {"scenario": "x", "plays": [{"name": "p", "actions": [{"type": "nurture"}]}]},
            "plays.0: Value error, a play needs conditions",
        ),
        (
            {
                "scenario": "x",
                "plays": [
                    {
                        "name": "p",
                        "when": [{"feature": "a", "value": "churn_risk", "above": 1}],
                        "actions": [{"type": "nurture"}],
                    }
                ],
            },
            "plays.0.when.0: Value error, give one of feature or value",
        ),
        (
            {
                "scenario": "x",
                "plays": [
                    {
                        "name": "p",
                        "when": [{"feature": "a", "z_above": 1, "z_below": 0}],
                        "actions": [{"type": "nurture"}],
                    }
                ],
            },
            "a feature takes one of z_above / z_below",
        ),
        ({"scenario": "x", "plays": [], "colour": "red"}, "colour: Extra inputs are not permitted"),
        (["not", "a", "mapping"], "should be a mapping with scenario and plays"),
    ],
)
def test_a_broken_playbook_is_rejected_with_where_and_what(book, match) -> None:
    with pytest.raises(ConfigError, match="playbook") as err:
        load_playbook(book)
    assert match in str(err.value)


def test_a_broken_playbook_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: x\nplays: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_playbook(bad)
    with pytest.raises(ConfigError, match="cannot read playbook"):
        load_playbook(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="no playbook for scenario 'zoo'"):
        playbook_path("zoo")
