"""The alias follower against a fake registry: it swaps to the version behind the alias, keeps the
old version when a new one cannot serve or the registry cannot be read, and reports why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from serving.follower import AliasFollower, ServingInputError
from tests.unit.serving.fakes import FEATURES, ROWS, FakeModel, FakeRegistry, follow, scorer

pytestmark = pytest.mark.unit


def test_the_first_poll_serves_the_version_behind_the_alias() -> None:
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)

    follower.poll_once()

    assert follower.served.version == "1" and follower.served.features == tuple(FEATURES)
    assert follower.state().to_json()["status"] == "ok"


def test_a_moved_alias_swaps_the_version_and_a_request_in_flight_keeps_its_own() -> None:
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    follower.poll_once()
    in_flight = follower.served

    registry.aliases["champion"] = "2"
    follower.poll_once()

    assert follower.served.version == "2"
    np.testing.assert_array_equal(in_flight.score(ROWS), scorer(registry.models["1"], ROWS[FEATURES]))
    np.testing.assert_array_equal(follower.served.score(ROWS), scorer(registry.models["2"], ROWS[FEATURES]))


@pytest.mark.parametrize(
    "bad",
    [RuntimeError("model.skops is missing"), FakeModel(0.0, broken=True)],
    ids=["cannot load", "loads but cannot score"],
)
def test_a_version_that_cannot_serve_leaves_the_old_one_and_is_reported(bad: Any) -> None:
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    follower.poll_once()

    registry.models["3"], registry.aliases["champion"] = bad, "3"
    follower.poll_once()

    state = follower.state().to_json()
    assert follower.served.version == "1"
    assert state["status"] == "degraded" and state["failed_version"] == "3" and state["alias_version"] == "3"
    assert "version 3" in state["error"] and "still serving version 1" in state["error"]


def test_a_rollback_after_a_failed_version_clears_the_report() -> None:
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    follower.poll_once()
    registry.models["3"], registry.aliases["champion"] = RuntimeError("corrupt"), "3"
    follower.poll_once()

    registry.aliases["champion"] = "1"
    follower.poll_once()

    assert follower.served.version == "1" and follower.state().to_json()["error"] is None


def test_an_unreachable_registry_keeps_the_served_version_and_says_so_without_its_detail(caplog) -> None:
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    follower.poll_once()

    registry.down = True
    follower.poll_once()

    assert follower.served.version == "1"
    # /health is open to anyone: the registry's error text (hosts, URLs) goes to the server log only.
    assert "cannot read alias 'champion' (RuntimeError" in follower.state().error
    assert "connection refused" not in follower.state().error and "connection refused" in caplog.text


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("lost", ["registry down", "alias removed", "new version cannot load"])
def test_a_version_the_registry_no_longer_confirms_goes_stale_after_the_limit(lost: str) -> None:
    registry, clock = FakeRegistry(), _Clock()
    registry.aliases["champion"] = "1"
    follower = AliasFollower("churn", "champion", registry, scorer, FEATURES, poll_seconds=1.0, clock=clock)
    follower.poll_once()
    if lost == "registry down":
        registry.down = True
    elif lost == "alias removed":
        del registry.aliases["champion"]
    else:
        registry.models["3"], registry.aliases["champion"] = RuntimeError("corrupt"), "3"

    clock.now += timedelta(seconds=600)
    follower.poll_once()
    fresh = follower.state().stale(clock.now, 900)
    clock.now += timedelta(seconds=301)
    follower.poll_once()
    stale, off = follower.state().stale(clock.now, 900), follower.state().stale(clock.now, 0)

    assert (fresh, stale, off) == (False, True, False) and follower.served.version == "1"


def test_every_poll_that_confirms_the_alias_keeps_the_version_fresh() -> None:
    registry, clock = FakeRegistry(), _Clock()
    registry.aliases["champion"] = "1"
    follower = AliasFollower("churn", "champion", registry, scorer, FEATURES, poll_seconds=1.0, clock=clock)
    follower.poll_once()

    clock.now += timedelta(hours=5)
    follower.poll_once()

    assert not follower.state().stale(clock.now, 900) and follower.state().confirmed_at == clock.now


def test_no_alias_at_start_serves_nothing_and_a_removed_alias_keeps_the_last_version() -> None:
    registry = FakeRegistry()
    follower = follow(registry)
    follower.poll_once()
    assert follower.served is None and follower.state().status == "unavailable"

    registry.aliases["champion"] = "1"
    follower.poll_once()
    del registry.aliases["champion"]
    follower.poll_once()

    assert follower.served.version == "1"
    assert "no alias 'champion'" in follower.state().error


def test_a_missing_feature_column_is_named() -> None:
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    follower.poll_once()

    with pytest.raises(ServingInputError, match=r"needs feature columns \['plan'\]"):
        follower.served.score(ROWS[["tenure"]])
