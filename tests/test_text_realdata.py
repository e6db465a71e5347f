"""Text features on real reviewers: Amazon Musical Instruments 5-core (skipped when absent).

The reviewers are segmented on what they wrote alone (the star ratings are not
imported), and the ratings then check the names: reviewers whose mean rating is
low should land in the segments named "Unhappy …".
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from userseg.cli import app

pytest.importorskip("vaderSentiment")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
AMAZON = DATA / "amazon_musical_instruments_5core" / "Musical_instruments_reviews.csv"

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.slow
@pytest.mark.skipif(not AMAZON.exists(), reason=f"real data absent: {AMAZON}")
def test_amazon_low_raters_land_in_unhappy_segments(tmp_path, capsys) -> None:
    db = tmp_path / "amazon.duckdb"
    res = run("ingest", AMAZON, "--db", db, "--kind", "events", "--user-id", "reviewerID",
              "--time", "reviewTime", "--date-format", "%m %d, %Y", "--text", "reviewText",
              "--json")
    assert res.exit_code == 0, res.output
    issues = {i["kind"]: i["count"] for i in json.loads(res.stdout)["issues"]}
    assert issues == {"empty_text": 7}  # the 7 empty reviews of SOURCE.md, counted
    res = run("features", "--db", db, "--json")
    assert res.exit_code == 0, res.output
    text = [f["name"] for f in json.loads(res.stdout)["features"] if f["source"] == "texts"]
    assert {"sentiment_mean", "negative_share", "sentiment_trend", "topic_0"} <= set(text)
    # the events are the reviews themselves: segment on what they say
    keep = ",".join(n for n in text if n != "text_count")
    assert run("features", "--db", db, "--include", keep).exit_code == 0
    res = run("fit", "--db", db)
    assert res.exit_code == 0, res.output

    reviews = pd.read_csv(AMAZON)
    low = reviews.groupby("reviewerID").overall.mean() <= 3.5
    with duckdb.connect(str(db), read_only=True) as con:
        seg = con.execute("SELECT user_id, segment FROM userseg_assignments").df()
        names = dict(con.execute("SELECT segment, name FROM userseg_profiles").fetchall())
    seg = seg.set_index("user_id").segment
    unhappy = seg.isin([s for s, n in names.items() if n.startswith("Unhappy")])
    precision = float(low.loc[seg.index[unhappy]].mean())
    recall = float(unhappy.loc[low.index[low]].mean())
    base = float(low.mean())
    with capsys.disabled():
        print(f"\n  amazon 5-core, {len(seg):,} reviewers in {len(names)} segments: "
              + "; ".join(f"{n} ({(seg == s).sum()})" for s, n in sorted(names.items())))
        print(f"  mean rating <= 3.5 ({int(low.sum())} reviewers, {base:.1%}): in 'Unhappy' "
              f"segments precision {precision:.3f} ({precision / base:.1f}x the base rate), "
              f"recall {recall:.3f}")
    assert unhappy.any(), names
    assert precision >= 1.5 * base and recall >= 0.5
