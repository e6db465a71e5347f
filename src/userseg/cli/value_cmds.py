"""``userseg value``: expected purchases, P(alive) and value per customer (and a holdout check)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from userseg.cli import render
from userseg.cli.options import DEFAULT_DB, Db, Json, check_db_exists
from userseg.config import parse_date
from userseg.errors import ConfigError, UsersegWarning

_OUT_SUFFIXES = (".csv", ".parquet")


def value(
    db: Db = DEFAULT_DB,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Date (YYYY-MM-DD) the customers are seen at; default: the day after the last "
            "event. With --holdout-from: the end of the holdout.",
        ),
    ] = None,
    horizon_days: Annotated[
        float,
        typer.Option("--horizon-days", help="Expected purchases and value over this many days."),
    ] = 365,
    discount_rate: Annotated[
        float,
        typer.Option("--discount-rate", help="Annual discount rate of the value (0 for none)."),
    ] = 0.10,
    holdout_from: Annotated[
        str | None,
        typer.Option(
            "--holdout-from",
            help="Check the model instead: fit on the purchases before DATE and compare its "
            "predictions with the purchases from DATE to --as-of, per decile.",
            metavar="DATE",
        ),
    ] = None,
    high_quantile: Annotated[
        float,
        typer.Option(
            "--high-quantile",
            help="Value tiers: spend so far and expected value above this quantile are high.",
        ),
    ] = 0.8,
    p_alive_threshold: Annotated[
        float,
        typer.Option(
            "--p-alive-threshold",
            help="Value tiers: a high spender below this P(alive) is at risk.",
        ),
    ] = 0.5,
    top: Annotated[int, typer.Option("--top", help="Customers of highest value to show.")] = 10,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write every customer's figures and tier (.csv or .parquet)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Customer value: BG/NBD purchases and P(alive), Gamma-Gamma spend, discounted value."""
    with render.errors(as_json):
        when = parse_date(as_of, "--as-of") if as_of else None
        holdout = parse_date(holdout_from, "--holdout-from") if holdout_from else None
        if out is not None and (holdout is not None or out.suffix.lower() not in _OUT_SUFFIXES):
            raise ConfigError(
                f"--out {out} must end in .csv or .parquet, and writes the value table (not "
                "the --holdout-from check)."
            )
        if top < 0:
            raise ConfigError(f"--top {top} should be >= 0.")
        check_db_exists(db)
        from userseg.jobs import pipeline
        from userseg.value import customer_value, holdout_validation, value_tiers

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UsersegWarning)
            with pipeline.open_db(db, read_only=True) as db_:
                if holdout is not None:
                    with render.step("fitting on the calibration period", not as_json):
                        rep = holdout_validation(db_, holdout, as_of=when)
                else:
                    with render.step("fitting the value model", not as_json):
                        res = customer_value(
                            db_, as_of=when, horizon_days=horizon_days, discount_rate=discount_rate
                        )
        notes = [str(w.message) for w in caught if issubclass(w.category, UsersegWarning)]
        if holdout is not None:
            _print_holdout(rep.to_dict(), notes, as_json)
            return
        tiers = (
            value_tiers(res.frame, high_quantile=high_quantile, p_alive_threshold=p_alive_threshold)
            if "value" in res.frame.columns
            else None
        )
        if out is not None:
            frame = res.frame if tiers is None else res.frame.assign(tier=tiers.labels)
            _write(frame.reset_index(), out)
        summary = res.to_dict(top=top)
        summary["tiers"] = tiers.to_dict() if tiers is not None else None
        summary["warnings"] = notes
        summary["out"] = str(out) if out is not None else None
        if as_json:
            render.print_json(summary)
            return
        _print_value(summary)


def _write(frame: Any, out: Path) -> None:
    """Write through a temporary file and rename it: a failed write leaves nothing behind."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write --out {out}: {exc.strerror or exc}.") from None


def _g(v: Any, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}g}"


def _money(v: Any) -> str:
    return "" if v is None else f"{v:,.2f}"


def _print_value(s: dict[str, Any]) -> None:
    c = render.console
    bg = s["transactions"]
    c.print(
        f"Customer value as of {s['as_of']}: {s['n_customers']:,} customers, "
        f"{s['n_repeat_buyers']:,} with a repeat purchase; horizon {s['horizon_days']:g} days, "
        f"discount {s['discount_rate']:.1%} a year."
    )
    rows = [
        ["BG/NBD (purchases, days)", k, _g(v, 4), _g(bg["fit"]["standard_errors"][k], 2)]
        for k, v in bg["params"].items()
    ]
    gg = s["spend"]
    if gg is not None:
        rows += [
            ["Gamma-Gamma (spend)", k, _g(v, 4), _g(gg["fit"]["standard_errors"][k], 2)]
            for k, v in gg["params"].items()
        ]
    c.print(render.table("Fitted models", ["model", "parameter", "value", "std. error"], rows))
    ind = s["independence"]
    if ind is not None:
        verdict = {True: "holds", False: "FAILS", None: "cannot be checked"}[ind["passed"]]
        c.print(
            f"Gamma-Gamma independence check: correlation of frequency and mean spend "
            f"{_g(ind['correlation'])} over {ind['n']:,} repeat buyers (threshold "
            f"|r| <= {ind['threshold']}): {verdict}."
        )
    has_value = "value" in s["totals"]
    cols = ["user", "purchase days", "P(alive)", f"exp. purchases {s['horizon_days']:g} days"]
    cols += ["exp. spend", "value"] if has_value else []
    rows = []
    for r in s["top"]:
        row = [r["user_id"], r["frequency"] + 1, f"{r['p_alive']:.2f}"]
        row.append(f"{r['expected_purchases']:.2f}")
        if has_value:
            row += [_money(r["expected_spend"]), _money(r["value"])]
        rows.append(row)
    if rows:
        c.print(
            render.table(
                f"Top {len(rows)} customers by {'value' if has_value else 'expected purchases'}",
                cols,
                rows,
                right=set(cols[1:]),
            )
        )
    totals = f"Expected purchases, all customers: {s['totals']['expected_purchases']:,.0f}"
    if has_value:
        totals += f"; value: {_money(s['totals']['value'])}"
    c.print(totals + f"  ({s['formula'].split(',')[0]})")
    tiers = s["tiers"]
    if tiers is not None:
        t = tiers["thresholds"]
        rows = [
            [
                r["tier"],
                f"{r['users']:,}",
                f"{r['share']:.1%}",
                _money(r["spend_total_mean"]),
                _money(r["value_mean"]),
                "" if r["churn_risk"] is None else f"{r['churn_risk']:.2f}",
            ]
            for r in tiers["summary"]
        ]
        cols = ["tier", "users", "share", "spend so far", "exp. value", "churn risk"]
        c.print(render.table("Value tiers", cols, rows, right=set(cols[1:])))
        c.print(
            f"Tiers: high = spend so far >= {_money(t['past_value_min'])}, expected value >= "
            f"{_money(t['predicted_value_min'])}; at risk = high spend and P(alive) < "
            f"{t['p_alive_threshold']:g}. Churn risk = 1 - mean P(alive)."
        )
    for note in s["notes"]:
        c.print(f"note: {note}")
    for w in s["warnings"]:
        c.print(f"[bold yellow]warning:[/] {escape(w)}", markup=True)
    if s["out"]:
        c.print(f"Every customer: {s['out']}")


def _print_holdout(d: dict[str, Any], notes: list[str], as_json: bool) -> None:
    d["warnings"] = notes
    if as_json:
        render.print_json(d)
        return
    c = render.console
    c.print(
        f"Holdout check: fitted on purchases before {d['holdout_from']}, predicting "
        f"{d['holdout_days']} days to {d['as_of']} for {d['n_users']:,} customers "
        f"({d['new_customers']:,} new customers in the holdout are not scored)."
    )
    cols = ["decile", "users", "predicted mean", "actual mean", "predicted", "actual", "error"]
    rows = [
        [
            r["decile"],
            f"{r['users']:,}",
            f"{r['predicted_mean']:.3f}",
            f"{r['actual_mean']:.3f}",
            f"{r['predicted_total']:,.1f}",
            f"{r['actual_total']:,}",
            "" if r["relative_error"] is None else f"{r['relative_error']:+.1%}",
        ]
        for r in d["deciles"]
    ]
    c.print(
        render.table(
            "Predicted vs actual purchases per decile of prediction (1 = lowest)",
            cols,
            rows,
            right=set(cols),
        )
    )
    c.print(
        f"Total: predicted {d['predicted_total']:,.1f}, actual {d['actual_total']:,}; "
        f"total relative error {d['total_relative_error']:+.1%}. MAE {d['mae']:.3f} purchases "
        f"per customer (carrying each customer's past rate forward: {d['baseline_mae']:.3f})."
    )
    for w in notes:
        c.print(f"[bold yellow]warning:[/] {escape(w)}", markup=True)


def register(app: typer.Typer) -> None:
    """Add ``value`` to the ``userseg`` app."""
    app.command()(value)
