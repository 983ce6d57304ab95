"""The alias follower against a fake registry: it swaps to the version behind the alias, keeps the
old version when a new one cannot serve or the registry cannot be read, and reports why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from serving.follower import ServingInputError
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


def test_an_unreachable_registry_keeps_the_served_version_and_says_so() -> None:
    registry = FakeRegistry()
    registry.aliases["champion"] = "1"
    follower = follow(registry)
    follower.poll_once()

    registry.down = True
    follower.poll_once()

    assert follower.served.version == "1"
    assert "connection refused" in follower.state().error


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
