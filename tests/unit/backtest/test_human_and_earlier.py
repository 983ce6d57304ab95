"""The backtest's two givens from outside the warehouse: rollbacks by hand to replay
(`--rollback AT[=REASON]`) and the source as it was before a time (`--source-before UNTIL=URL`).
Both are part of the plan: parsed, placed in their windows, checked against the dates, and part of
what a resumed backtest must share with the one it continues."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include.retraining.backtest import (
    HAND_REASON,
    BacktestPlanError,
    BacktestRequest,
    HandRollback,
    Journal,
    JournalMismatch,
    SourceBefore,
    open_sources_before,
    parse_rollback,
    parse_source_before,
)
from include.retraining.backtest.runner import _replay_window
from include.retraining.config import load_model_config
from include.retraining.warehouse import Warehouse
from tests.support import REPO

pytestmark = pytest.mark.unit

CHURN = load_model_config(REPO / "include" / "models" / "churn.yaml")  # weekly Monday 03:00
START, END = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)  # windows end 2, 9, 16, 23 Feb


def _request(tmp_path: Path, **given) -> BacktestRequest:
    return BacktestRequest(START, END, tmp_path, "0 3 * * 1", **given)


def test_a_rollback_parses_its_time_in_utc_and_its_reason_or_the_default() -> None:
    assert parse_rollback("2026-02-09T03:00=bad load, back to v1") == HandRollback(
        datetime(2026, 2, 9, 3, tzinfo=UTC), "bad load, back to v1"
    )
    assert parse_rollback("2026-02-09T04:00+01:00") == HandRollback(datetime(2026, 2, 9, 3, tzinfo=UTC), HAND_REASON)


def test_a_source_before_keeps_the_equals_signs_of_its_url() -> None:
    spec = parse_source_before("2026-02-16T03:00Z=postgresql://u@h/db?options=-c%20x=1")

    assert spec == SourceBefore(datetime(2026, 2, 16, 3, tzinfo=UTC), "postgresql://u@h/db?options=-c%20x=1")


@pytest.mark.parametrize(
    ("text", "parse", "says"),
    [
        ("next monday", parse_rollback, "--rollback 'next monday': the time is not ISO 8601"),
        ("2026-02-16", parse_source_before, "give UNTIL=URL"),
        ("yesterday=sqlite:///a.db", parse_source_before, "--source-before 'yesterday'"),
    ],
)
def test_a_malformed_option_is_refused_naming_it(text: str, parse, says: str) -> None:
    with pytest.raises(BacktestPlanError, match=says):
        parse(text)


def test_each_rollback_lands_in_the_window_of_its_time() -> None:
    at_fire, inside = datetime(2026, 2, 9, 3, tzinfo=UTC), datetime(2026, 2, 12, tzinfo=UTC)
    request = _request(Path("."), rollbacks=(HandRollback(inside, "b"), HandRollback(at_fire, "a")))

    windows = request.plan(CHURN)

    assert [w.rollbacks for w in windows] == [(), (HandRollback(at_fire, "a"),), (HandRollback(inside, "b"),), ()]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"rollbacks": (HandRollback(START),)}, "--rollback 2026-02-01T00:00:00\\+00:00 is outside the backtest"),
        ({"rollbacks": (HandRollback(datetime(2026, 3, 2, tzinfo=UTC)),)}, "--rollback .* is outside"),
        ({"rollbacks": (HandRollback(END), HandRollback(END, "again"))}, "--rollback 2026-03-01.* is given twice"),
        ({"rollbacks": (HandRollback(END),)}, "--rollback 2026-03-01.* is after the last window, .* 2026-02-23T03:00"),
        ({"sources_before": (SourceBefore(START, "sqlite:///a.db"),)}, "--source-before .* is outside the backtest"),
        (
            {"sources_before": (SourceBefore(END, "sqlite:///a.db"), SourceBefore(END, "sqlite:///b.db"))},
            "--source-before 2026-03-01.* is given twice",
        ),
    ],
)
def test_times_outside_the_backtest_or_given_twice_are_refused(tmp_path: Path, given: dict, says: str) -> None:
    with pytest.raises(BacktestPlanError, match=says):
        _request(tmp_path, **given).plan(CHURN)


def test_a_resume_with_other_rollbacks_or_other_earlier_sources_is_refused(tmp_path: Path) -> None:
    rollback = HandRollback(datetime(2026, 2, 9, 3, tzinfo=UTC), "bad load")
    earlier = ((datetime(2026, 2, 16, 3, tzinfo=UTC), Warehouse(f"sqlite:///{tmp_path / 'copy.db'}")),)
    first = _request(tmp_path, rollbacks=(rollback,))
    Journal.open(tmp_path, first.identity(CHURN, earlier))

    Journal.open(tmp_path, first.identity(CHURN, earlier))  # the same arguments resume
    for other, sources in (
        (_request(tmp_path), earlier),
        (_request(tmp_path, rollbacks=(HandRollback(rollback.at, "another reason"),)), earlier),
        (first, ()),
        (first, ((datetime(2026, 2, 23, 3, tzinfo=UTC), earlier[0][1]),)),
    ):
        with pytest.raises(JournalMismatch, match="give another --out"):
            Journal.open(tmp_path, other.identity(CHURN, sources))


def test_a_backtest_without_them_keeps_the_identity_it_had(tmp_path: Path) -> None:
    """Folders of backtests made before the options existed resume."""
    assert set(_request(tmp_path).identity(CHURN)) == {"model", "start", "end", "monitor_cron", "config"}


def test_the_identity_names_an_earlier_source_without_its_password(tmp_path: Path) -> None:
    earlier = ((datetime(2026, 2, 16, 3, tzinfo=UTC), Warehouse("postgresql://u:secret@h:5432/db")),)

    identity = _request(tmp_path).identity(CHURN, earlier)

    assert identity["sources_before"] == [["2026-02-16T03:00:00+00:00", "postgresql://u:***@h:5432/db"]]


def _sqlite(path: Path, columns: str) -> str:
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"CREATE TABLE customer_snapshots ({columns})")
    return f"sqlite:///{path}"


FULL = ", ".join(["customer_id", "snapshot_at", "churned", *CHURN.features.columns])  # every column the runs read


def test_earlier_sources_are_opened_checked_and_ordered(tmp_path: Path) -> None:
    now = Warehouse(f"sqlite:///{tmp_path / 'now.db'}")
    late, early = datetime(2026, 2, 23, 3, tzinfo=UTC), datetime(2026, 2, 9, 3, tzinfo=UTC)
    specs = (
        SourceBefore(late, _sqlite(tmp_path / "b.db", FULL)),
        SourceBefore(early, _sqlite(tmp_path / "a.db", FULL)),
    )

    opened = open_sources_before(CHURN, now, specs)

    assert [(until, w.database_file) for until, w in opened] == [
        (early, str(tmp_path / "a.db")),
        (late, str(tmp_path / "b.db")),
    ]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "is not a SQLAlchemy URL"),
        ("sqlite:///{tmp}/missing.db", "no database file .*missing.db"),
        ("sqlite:///{tmp}/now.db", "is the model's own connection"),
        ("sqlite:///{tmp}/empty.db", "table 'customer_snapshots' does not exist"),
        ("sqlite:///{tmp}/partial.db", r"has no column\(s\) \['churned'"),
        ("postgresql://nobody@127.0.0.1:1/none", "does not answer"),
    ],
)
def test_an_earlier_source_that_cannot_serve_the_runs_is_refused(tmp_path: Path, url: str, says: str) -> None:
    with closing(sqlite3.connect(tmp_path / "empty.db")) as db:
        db.execute("CREATE TABLE other (x)")
    _sqlite(tmp_path / "partial.db", "customer_id, snapshot_at")
    now = Warehouse(f"sqlite:///{tmp_path / 'now.db'}")
    spec = SourceBefore(datetime(2026, 2, 16, 3, tzinfo=UTC), url.format(tmp=tmp_path))

    with pytest.raises(
        BacktestPlanError, match=f"model 'churn': --source-before 2026-02-16T03:00:00\\+00:00: .*{says}"
    ):
        open_sources_before(CHURN, now, (spec,))
    assert not (tmp_path / "missing.db").exists()


class _Isolated:
    """Records the order the runs were asked for; every run keeps champion v1."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def champion(self) -> dict[str, str]:
        return {"version": "1", "uri": "models:/churn__backtest/1"}


def test_a_rollback_is_replayed_after_the_runs_at_its_time_and_before_later_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from include.retraining.backtest import runner

    iso = _Isolated()

    def _run(kind: str):
        def run(_iso, at, *rest):
            iso.asked.append(f"{kind}@{at:%d %H}")
            record = {"kind": kind, "at": at.isoformat(), "outcome": "x", "trigger": "schedule"}
            if kind == "monitor":  # the monitor of the 7th triggers a drift retrain
                drift = at.day == 7
                record.update(trigger=drift, drift_window_end=at.isoformat(), drift_reason="drift")
            return record

        return run

    for name, kind in (("monitor_run", "monitor"), ("retrain_run", "retrain"), ("rollback_run", "rollback")):
        monkeypatch.setattr(runner, name, _run(kind))
    monkeypatch.setattr(
        runner, "_window_record", lambda iso, journal, scorer, planned, runs: {"index": 0, "runs": runs}
    )
    rollbacks = tuple(HandRollback(datetime(2026, 2, day, hour, tzinfo=UTC)) for day, hour in ((9, 3), (4, 2), (7, 2)))
    (window,) = BacktestRequest(
        datetime(2026, 2, 3, tzinfo=UTC),
        datetime(2026, 2, 9, 12, tzinfo=UTC),
        tmp_path,
        "0 2 */2 * *",
        rollbacks=rollbacks,
    ).plan(CHURN)

    _replay_window(iso, Journal.open(tmp_path, {}), None, window, lambda _: None)

    assert iso.asked == [
        "monitor@03 02",
        "rollback@04 02",
        "monitor@05 02",
        "monitor@07 02",
        "retrain@07 02",
        "rollback@07 02",
        "monitor@09 02",
        "retrain@09 03",
        "rollback@09 03",
    ]
