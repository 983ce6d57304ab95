"""Which model version the server answers with, and how it follows the registry alias.

No HTTP here: the app (`serving/app.py`) asks `AliasFollower.served` for the version to score a
request with, and `status()` for /health. A poller thread calls `poll_once` every interval: it
reads the alias through the registry adapter, loads a new version off the request path, checks
that it scores, and only then swaps it in, in one reference assignment. A request holds the
`Served` it started with, so a swap never fails a request in flight; a version that cannot be
loaded or scored leaves the old one serving and is reported on /health.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from include.retraining.score import find_bad_values

log = logging.getLogger(__name__)


class ServingInputError(ValueError):
    """A request the served model cannot score (a feature column missing, a value not of its
    column's type): the client's to fix. `problems`: per column, its first row and what was expected."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class AliasTarget:
    """The version an alias points at, as the registry answered."""

    version: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)


class ModelSource(Protocol):
    """The registry and model store, as the follower needs them (serving/source.py is the real one)."""

    def alias_target(self, alias: str) -> AliasTarget | None:
        """The version behind the alias; None only when the registry says it does not exist."""

    def load(self, version: str) -> Any:
        """The fitted model of a version; raises when it cannot be loaded."""


# (fitted model, rows with the model's features) -> one score per row; raises ServingInputError
# when the rows cannot be scored as the model file says.
Scorer = Callable[[Any, pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class Served:
    """One loaded version: what a request is scored with, start to end."""

    model_name: str
    alias: str
    version: str
    run_id: str
    model: Any
    features: tuple[str, ...]
    scorer: Scorer
    loaded_at: datetime
    numeric: tuple[str, ...] = ()  # the features the version treats as numbers

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores of the rows (the batch scorer's: positive-class probability or prediction)."""
        missing = [column for column in self.features if column not in frame.columns]
        if missing:
            # The columns sent are checked too, so one answer names everything there is to fix.
            present = [c for c in self.features if c in frame.columns]
            numeric = [c for c in self.numeric if c in present]
            bad = find_bad_values(frame, numeric, [c for c in present if c not in numeric]).columns
            raise ServingInputError(
                "".join(f"{b.message()}; " for b in bad)
                + f"model {self.model_name!r} version {self.version} needs feature columns {missing}, "
                f"absent from the request (it has {[str(c)[:40] for c in frame.columns][:50]}); send every "
                "column the version was trained on (GET /version lists them)",
                [b.to_json() for b in bad],
            )
        return self.scorer(self.model, frame[list(self.features)])

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "alias": self.alias,
            "version": self.version,
            "run_id": self.run_id,
            "features": list(self.features),
            "loaded_at": self.loaded_at.isoformat(),
        }


@dataclass(frozen=True)
class FollowerState:
    """Everything /health reports, replaced as a whole so a reader never sees half an update."""

    served: Served | None = None
    alias_version: str | None = None
    last_poll_at: datetime | None = None
    error: str | None = None
    failed_version: str | None = None
    # The last time the registry said the alias points at the served version.
    confirmed_at: datetime | None = None

    @property
    def status(self) -> str:
        if self.served is None:
            return "unavailable"
        return "degraded" if self.error else "ok"

    def stale(self, now: datetime, max_staleness_seconds: float) -> bool:
        """Serving a version the registry has not confirmed for longer than `max_staleness_seconds`
        (0: never stale): the registry unreachable, the alias removed, or moved to a version that
        cannot load."""
        if self.served is None or max_staleness_seconds <= 0:
            return False
        confirmed = self.confirmed_at or self.served.loaded_at
        return (now - confirmed).total_seconds() > max_staleness_seconds

    def to_json(self) -> dict[str, Any]:
        served = self.served
        return {
            "status": self.status,
            "version": served.version if served else None,
            "alias_version": self.alias_version,
            "last_poll_at": self.last_poll_at.isoformat() if self.last_poll_at else None,
            "error": self.error,
            "failed_version": self.failed_version,
            "confirmed_at": self.confirmed_at.isoformat() if self.confirmed_at else None,
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AliasFollower:
    """Serves the version behind `alias` of `model_name`, following the alias as it moves."""

    def __init__(
        self,
        model_name: str,
        alias: str,
        source: ModelSource,
        scorer: Scorer,
        fallback_features: list[str],
        poll_seconds: float,
        clock: Callable[[], datetime] = _utcnow,
        probe: Scorer | None = None,
        numeric: Callable[[Any], list[str]] | None = None,
        admit: Callable[[AliasTarget], bool] | None = None,
    ) -> None:
        """`admit`, when given, makes this an optional follower (the canary's): a version it does
        not admit, or no alias at all, means nothing served (not an error), and what served is dropped."""
        if poll_seconds <= 0:
            raise ValueError(f"poll interval must be positive, got {poll_seconds}")
        self.model_name = model_name
        self.alias = alias
        self.poll_seconds = poll_seconds
        self._source = source
        self._scorer = scorer
        self._fallback_features = list(fallback_features)
        self._clock = clock
        # Scores one row of missing values before a version may serve; the model alone, without
        # the scorer's input checks (a model file may refuse nulls that the pipeline imputes).
        self._probe = probe or scorer
        self._numeric = numeric or (lambda model: [])
        self._admit = admit
        self._state = FollowerState()
        self.swaps = 0  # new versions swapped in after the first (serving/metrics.py)

    @property
    def served(self) -> Served | None:
        """The version a new request is scored with (read once per request)."""
        return self._state.served

    def state(self) -> FollowerState:
        return self._state

    def now(self) -> datetime:
        return self._clock()

    def poll_once(self) -> None:
        """Read the alias; load, check and swap in a new version; keep the old one on any failure."""
        state, now = self._state, self._clock()
        try:
            target = self._source.alias_target(self.alias)
        except Exception as exc:  # noqa: BLE001 - any registry failure keeps the served version
            # The detail (host names, URLs) goes to the server log; /health is open to anyone.
            log.warning("model %s: cannot read alias %s: %s", self.model_name, self.alias, exc)
            error = f"cannot read alias {self.alias!r} ({type(exc).__name__}; the server log has the detail)"
            self._set(replace(state, last_poll_at=now, error=error))
            return
        if self._admit is not None and (target is None or not self._admit(target)):
            if state.served is not None:
                log.info("model %s: alias %s no longer admitted: nothing served by it", self.model_name, self.alias)
            self._set(FollowerState(alias_version=target.version if target else None, last_poll_at=now))
            return
        if target is None:
            self._set(replace(state, alias_version=None, last_poll_at=now, error=self._no_alias(state)))
            return
        if state.served is not None and state.served.version == target.version:
            confirmed = replace(state, alias_version=target.version, last_poll_at=now, confirmed_at=now)
            self._set(replace(confirmed, error=None, failed_version=None))
            return
        try:
            served = self._load(target, now)
        except Exception as exc:  # noqa: BLE001 - a version that cannot serve leaves the old one serving
            keeps = f"; still serving version {state.served.version}" if state.served else ""
            log.warning("model %s version %s not swapped in: %s", self.model_name, target.version, exc)
            error = (
                f"version {target.version} (alias {self.alias!r}) cannot be served "
                f"({type(exc).__name__}; the server log has the detail){keeps}"
            )
            self._set(
                replace(
                    state, alias_version=target.version, last_poll_at=now, error=error, failed_version=target.version
                )
            )
            return
        log.info("model %s: now serving version %s (alias %s)", self.model_name, target.version, self.alias)
        self.swaps += state.served is not None
        self._set(FollowerState(served=served, alias_version=target.version, last_poll_at=now, confirmed_at=now))

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set; the first poll at once."""
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the poller must not die: /health would go stale
                log.exception("alias poll of %s failed", self.model_name)
            stop.wait(self.poll_seconds)

    def _load(self, target: AliasTarget, now: datetime) -> Served:
        from include.retraining.learning import model_features

        model = self._source.load(target.version)
        features = tuple(model_features(model, self._fallback_features))
        numeric = tuple(self._numeric(model))
        served = Served(
            self.model_name, self.alias, target.version, target.run_id, model, features, self._scorer, now, numeric
        )
        self._probe(model, _probe_row(features))  # a version that cannot score one row never serves
        return served

    def _set(self, state: FollowerState) -> None:
        self._state = state  # one reference assignment: the swap

    def _no_alias(self, state: FollowerState) -> str:
        keeps = f"; still serving version {state.served.version}" if state.served else ""
        return f"model {self.model_name!r} has no alias {self.alias!r} in the registry{keeps}"


def _probe_row(features: tuple[str, ...]) -> pd.DataFrame:
    """One row of missing values: the pipeline imputes every feature, so any good version scores it."""
    return pd.DataFrame({column: [None] for column in features})
