"""Stable segment ids across model versions: matching, migrations, and the refit scenario."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from userseg import demo
from userseg.config import Source
from userseg.jobs import pipeline
from userseg.monitor import LEFT, NEW_USERS, match_segments
from userseg.store import get_matching, load_assignments, load_model, load_profiles


def _series(pairs: dict[str, int]) -> pd.Series:
    return pd.Series(pairs)


def test_relabelled_partition_keeps_every_id_and_name() -> None:
    prev = _series({f"u{i}": i % 3 for i in range(300)})
    # the same groups, fitted again: numbered differently (2 -> 0, 0 -> 1, 1 -> 2)
    cur = prev.map({2: 0, 0: 1, 1: 2})
    m = match_segments(
        prev,
        cur,
        previous_names={0: ("A", "user"), 1: ("B", "generated"), 2: ("C", "generated")},
        current_names=["x", "y", "z"],
    )
    assert m.ids == [2, 0, 1]
    assert [x.status for x in m.matches] == ["kept"] * 3
    assert m.names[0] == ("A", "user")  # a name a person gave is kept too
    assert m.migration.loc[2, 2] == 100 and m.migration.drop(columns=LEFT).to_numpy().sum() == 300


def test_appeared_gone_and_growth() -> None:
    prev = _series(
        {
            **{f"a{i}": 0 for i in range(100)},
            **{f"b{i}": 1 for i in range(100)},
            **{f"c{i}": 2 for i in range(50)},
        }
    )
    cur = _series(
        {
            **{f"a{i}": 0 for i in range(100)},  # unchanged
            **{f"b{i}": 1 for i in range(100)},  # grows with new users
            **{f"n{i}": 1 for i in range(200)},
            **{f"d{i}": 2 for i in range(80)},
        }
    )  # a new group; c left
    m = match_segments(
        prev,
        cur,
        previous_names={0: ("A", "g"), 1: ("B", "g"), 2: ("C", "g")},
        current_names=["x", "y", "z"],
        next_id=7,
    )
    assert m.ids == [0, 1, 7]
    status = {(x.previous_segment, x.segment): x.status for x in m.matches}
    assert status == {(0, 0): "kept", (1, 1): "kept", (None, 7): "appeared", (2, None): "gone"}
    gone = next(x for x in m.matches if x.status == "gone")
    assert gone.detail == "50 of its 50 users are no longer in the data"
    assert m.migration.loc[NEW_USERS, 1] == 200 and m.migration.loc[2, LEFT] == 50
    assert m.migration.drop(columns=LEFT).to_numpy().sum() == len(cur)


def test_a_much_changed_group_keeps_its_id_but_not_a_generated_name() -> None:
    prev = _series({**{f"a{i}": 0 for i in range(100)}, **{f"b{i}": 1 for i in range(100)}})
    # the partition is reshuffled: old 0 best matches new 1 (overlap 0.42), old 1 new 0 (0.53)
    cur = _series(
        {
            **{f"a{i}": 0 for i in range(50)},
            **{f"b{i}": 0 for i in range(80)},
            **{f"a{i}": 1 for i in range(50, 100)},
            **{f"b{i}": 1 for i in range(80, 100)},
        }
    )
    m = match_segments(
        prev,
        cur,
        previous_names={0: ("Old name", "generated"), 1: ("Kept by hand", "user")},
        current_names=["y", "Fresh name"],
    )
    kept0 = next(x for x in m.matches if x.previous_segment == 0)
    assert kept0.status == "kept" and kept0.segment == 0
    assert kept0.name == "Fresh name" and "was 'Old name'" in kept0.detail
    assert 0 not in m.names  # the new generated name stands
    kept1 = next(x for x in m.matches if x.previous_segment == 1)
    assert kept1.name == "Kept by hand"  # a person's name is always kept


def test_split_is_described() -> None:
    prev = _series({f"u{i}": 0 for i in range(200)})
    cur = _series({f"u{i}": int(i >= 120) for i in range(200)})
    m = match_segments(prev, cur, previous_names={0: ("Big", "g")}, current_names=["x", "y"])
    appeared = next(x for x in m.matches if x.status == "appeared")
    assert "100% of its users come from segment 0 (Big)" in appeared.detail


def test_profiles_are_used_when_no_users_are_shared() -> None:
    prev = _series({f"a{i}": i % 2 for i in range(100)})
    cur = _series({f"b{i}": i % 2 for i in range(100)})
    prev_means = pd.DataFrame({"spend": [10.0, 500.0], "visits": [1.0, 20.0]}, index=[0, 1])
    cur_means = pd.DataFrame({"spend": [480.0, 12.0], "visits": [22.0, 1.5]}, index=[0, 1])
    m = match_segments(
        prev,
        cur,
        previous_names={0: ("Low", "g"), 1: ("High", "g")},
        current_names=["x", "y"],
        previous_means=prev_means,
        current_means=cur_means,
    )
    assert m.method == "profiles" and m.ids == [1, 0]


@pytest.mark.slow
def test_refit_keeps_ids_and_names_of_unchanged_segments(tmp_path) -> None:
    s = demo.two_period_scenario(6000, seed=0)
    for key in ("month1", "months12", "users"):
        pq.write_table(s[key], tmp_path / f"{key}.parquet")
    truth = s["truth"].to_pandas().set_index("user_id").persona
    db = pipeline.open_db(tmp_path / "shop.duckdb")

    def fit(events: str, previous):
        pipeline.ingest(
            db,
            Source(path=str(tmp_path / f"{events}.parquet")),
            kind="events",
            mapping=demo.EVENT_MAPPING,
        )
        pipeline.ingest(
            db,
            Source(path=str(tmp_path / "users.parquet")),
            kind="users",
            mapping=demo.USER_MAPPING,
        )
        pipeline.features(db)
        return pipeline.fit(db, previous_run=previous)[0]

    def persona_segments(run: int) -> tuple[dict[str, int], dict[int, str], pd.Series]:
        a = load_assignments(db, run).set_index("user_id").segment
        majority = pd.crosstab(truth.loc[a.index], a).idxmax(axis=1).to_dict()
        names = {p.segment: p.name for p in load_profiles(db, run)}
        return majority, names, a

    r1 = fit("month1", None)
    r2 = fit("months12", "latest")
    seg1, names1, _ = persona_segments(r1)
    seg2, names2, a2 = persona_segments(r2)
    for persona in (
        "loyal_high_spenders",
        "bargain_hunters",
        "window_shoppers",
        "lapsed_one_time",
        "new_users",
    ):
        assert seg2[persona] == seg1[persona], persona  # same id
        assert names2[seg2[persona]] == names1[seg1[persona]], persona  # same name
    matching = get_matching(db, r2)
    gone = [m for m in matching["matches"] if m["status"] == "gone"]
    assert [m["previous_segment"] for m in gone] == [seg1["serial_returners"]]
    assert "no longer in the data" in gone[0]["detail"]
    # the persona that grew kept its id, with more users
    a1 = load_assignments(db, r1).set_index("user_id").segment
    assert (a2 == seg2["new_users"]).sum() > 2 * (a1 == seg1["new_users"]).sum()
    counts = np.array(matching["migration"]["counts"])
    columns = matching["migration"]["columns"]
    assert counts[:, [c != LEFT for c in columns]].sum() == len(a2)  # sums to the user count
    # the stored model, which assign, drift, the service and the report use, names every
    # segment as its profile does (its positions and kept ids differ after the refit)
    model = load_model(db, r2)
    assert {int(s): model.name_of(int(s)) for s in model.segment_ids_} == names2
    db.close()
