"""What the retrain tasks hand each other, typed: one dataclass per task result, turned into a
plain dict only at the XCom boundary (`to_xcom`) and parsed back once (`from_xcom`), so the UI
plugin keeps reading the same keys and no step re-parses string keys by hand. The gate's result
and promote's (`Evaluated`, `Promotion`) are the promotion package's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from include.retraining.common import Window


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class Extracted:
    """The training window's snapshot: where it is, its content hash and row count."""

    path: str
    content_hash: str
    rows: int
    window: Window

    def to_xcom(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "content_hash": self.content_hash,
            "rows": self.rows,
            "window": self.window.to_dict(),
        }

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Extracted:
        return cls(str(data["path"]), str(data["content_hash"]), int(data["rows"]), Window.from_dict(data["window"]))


@dataclass(frozen=True)
class Validated:
    """The window passed validation: how many expectations, where the GX result is, and which
    champion's data the learned expectations came from (None: the model file's rules alone)."""

    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    json_path: str | None = None
    html_path: str | None = None
    learned_from_champion: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Validated:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class Trained:
    """The MLflow run that holds the challenger (a rerun of the same snapshot reuses it)."""

    run_id: str
    experiment_id: str
    model_uri: str
    reused: bool

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> Trained:
        return _from_dict(cls, data)
