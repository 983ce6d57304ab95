"""The project's own loader for a downloaded MLflow sklearn model folder.

Skops format only, trusting only the types it is given (the project's, `learning.SKOPS_TRUSTED_TYPES`,
plus the model file's `training.trusted_types`: `learning.trusted_types(config)`), whatever the model's
MLmodel file asks for: a crafted registry entry must not run code in a worker, and
MLflow's own loader would take the format and the trusted list from the model itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml


class UnusableModelError(Exception):
    """A logged model that cannot be loaded or scored by any version of our code: its artifact is
    missing or corrupt, not ours, or it cannot score our columns. Never a worker's trouble (memory,
    disk, network): those propagate, so the task fails and is retried."""


class UnsafeModelError(UnusableModelError):
    """A model this project refuses to deserialize: not skops, or trusting types beyond its list."""


def import_skops() -> ModuleType:
    """`skops.io`, imported without its import-time noise.

    On import skops looks up scipy's function names in every loaded module, and each of Airflow's
    deprecated-module shims warns on the lookup: 1,160 warnings in a task's log, none about our code.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import skops.io
    return skops.io


def model_file(folder: Path, label: str, trusted: Sequence[str]) -> str:
    """The skops file an MLflow sklearn model folder's MLmodel names, relative to the folder;
    refused unless the model is skops, trusts only the project's types and stays in its folder.
    Needs only the MLmodel file: a loader fetches just the two files, not the folder."""
    conf = _sklearn_flavor(folder, label)
    serialization = conf.get("serialization_format", "pickle")
    if serialization != "skops":
        raise UnsafeModelError(
            f"{label} is serialized as {serialization!r}; this project loads only 'skops' models, "
            "never pickle: retrain it with this pipeline (which logs skops) or remove the alias"
        )
    extra = sorted(set(conf.get("skops_trusted_types") or []) - set(trusted))
    if extra:
        raise UnsafeModelError(
            f"{label} asks to trust {extra}, outside the project's list (learning.SKOPS_TRUSTED_TYPES) and the "
            "model file's training.trusted_types; refused: a model must not widen what a worker deserializes. "
            f"If you trust them, add them to training.trusted_types in the model file"
        )
    name = str(conf.get("pickled_model", "model.skops"))
    if not (folder / name).resolve().is_relative_to(folder.resolve()):
        raise UnsafeModelError(f"{label}: model file {name!r} points outside the model folder")
    return name


def load_skops_model(folder: Path, label: str, trusted: Sequence[str]) -> Any:
    """Load an MLflow sklearn model folder: skops only, trusting only `trusted`."""
    return load_model_file(folder / model_file(folder, label, trusted), label, trusted)


def load_model_file(path: Path, label: str, trusted: Sequence[str]) -> Any:
    """Load the skops file that `model_file` named and checked, trusting only `trusted`."""
    skops_io = import_skops()
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return skops_io.load(path, trusted=list(trusted))
    except UntrustedTypesFoundException as exc:
        untrusted = sorted(set(skops_io.get_untrusted_types(file=path)) - set(trusted))
        raise UnsafeModelError(
            f"{label} holds types outside the project's list and the model file's training.trusted_types: "
            f"{untrusted}; refused. If you trust them (your own classes, a library's), add them to "
            f"training.trusted_types in the model file. ({exc})"
        ) from exc
    except FileNotFoundError as exc:
        raise UnusableModelError(f"{label}: cannot load {path.name}: {exc!r}") from exc
    except (MemoryError, OSError):
        raise  # the worker's trouble (memory, a disk error), not the file's: the task is retried
    except Exception as exc:  # a corrupt file fails in whatever way its bytes lead skops to
        raise UnusableModelError(f"{label}: cannot load {path.name}: {exc!r}") from exc


def untrusted_types(model: Any, trusted: Sequence[str]) -> list[str]:
    """The types `model`'s skops file would hold beyond `trusted` (and skops' own defaults): what a
    loader trusting only `trusted` would refuse. Checked before a model is logged."""
    skops_io = import_skops()
    return sorted(set(skops_io.get_untrusted_types(data=skops_io.dumps(model))) - set(trusted))


def _sklearn_flavor(folder: Path, label: str) -> dict[str, Any]:
    mlmodel = folder / "MLmodel"
    try:
        spec = yaml.safe_load(mlmodel.read_text()) or {}
    except (FileNotFoundError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UnusableModelError(f"{label}: no readable MLmodel file ({exc})") from exc
    conf = (spec.get("flavors") or {}).get("sklearn")
    if not isinstance(conf, dict):
        raise UnusableModelError(f"{label} is not a scikit-learn model (no sklearn flavor in MLmodel)")
    return conf
