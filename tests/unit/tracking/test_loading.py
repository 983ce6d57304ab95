"""The project's own model loader: skops only, trusting only the project's types, whatever the
model's MLmodel file asks for; what is not ours is refused by name, what is broken is unusable.
An installation upgraded in place keeps serving the models it logged before: a skops file written
by the pipeline at c459b4f (before the capability packages) loads through today's loader and
trusted list and scores its rows exactly as it did then."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from include.retraining.learning import SKOPS_TRUSTED_TYPES
from include.retraining.tracking import UnsafeModelError, UnusableModelError, load_model_file, untrusted_types
from include.retraining.tracking.loading import import_skops, load_skops_model, model_file
from tests.support import REPO, save_skops_model

pytestmark = pytest.mark.unit

LEGACY = REPO / "tests" / "data" / "legacy"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small fitted pipeline saved as MLflow does for this project: skops, our trusted types."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    frame = pd.DataFrame({"x": np.arange(20.0)})
    model = Pipeline([("model", LogisticRegression())]).fit(frame, np.arange(20) % 2)
    folder = tmp_path_factory.mktemp("model") / "model"
    return save_skops_model(model, folder)


def _copy_with(saved: Path, tmp_path: Path, **flavor: object) -> Path:
    folder = tmp_path / "copy"
    shutil.copytree(saved, folder)
    spec = yaml.safe_load((folder / "MLmodel").read_text())
    spec["flavors"]["sklearn"].update(flavor)
    (folder / "MLmodel").write_text(yaml.safe_dump(spec))
    return folder


def test_our_skops_model_loads(saved_model: Path) -> None:
    model = load_skops_model(saved_model, "v1", SKOPS_TRUSTED_TYPES)
    assert list(model.feature_names_in_) == ["x"]


def test_the_model_file_is_named_and_checked_from_the_mlmodel_file_alone(saved_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "only-mlmodel"
    folder.mkdir()
    shutil.copy(saved_model / "MLmodel", folder / "MLmodel")

    name = model_file(folder, "v1", SKOPS_TRUSTED_TYPES)

    assert name == "model.skops" and not (folder / name).exists()
    model = load_model_file(saved_model / name, "v1", SKOPS_TRUSTED_TYPES)
    assert list(model.feature_names_in_) == ["x"]


def test_a_pickle_model_is_refused_by_name(saved_model: Path, tmp_path: Path) -> None:
    folder = _copy_with(saved_model, tmp_path, serialization_format="cloudpickle")
    with pytest.raises(UnsafeModelError, match="'cloudpickle'.*only 'skops'"):
        load_skops_model(folder, "models:/churn@champion", SKOPS_TRUSTED_TYPES)


def test_a_model_that_widens_the_trusted_types_is_refused(saved_model: Path, tmp_path: Path) -> None:
    folder = _copy_with(saved_model, tmp_path, skops_trusted_types=[*SKOPS_TRUSTED_TYPES, "builtins.eval"])
    with pytest.raises(UnsafeModelError, match="builtins.eval"):
        load_skops_model(folder, "v9", SKOPS_TRUSTED_TYPES)


def test_a_model_file_outside_its_folder_is_refused(saved_model: Path, tmp_path: Path) -> None:
    folder = _copy_with(saved_model, tmp_path, pickled_model="../elsewhere.skops")
    with pytest.raises(UnsafeModelError, match="points outside the model folder"):
        model_file(folder, "v3", SKOPS_TRUSTED_TYPES)


def test_a_model_holding_types_outside_the_list_is_refused() -> None:
    # A real churn model (it holds the project's converters): trusting fewer types than it needs refuses it.
    narrower = [t for t in SKOPS_TRUSTED_TYPES if not t.startswith("include.")]
    with pytest.raises(UnsafeModelError, match=r"holds types outside the project's list.*features._as_float"):
        load_model_file(LEGACY / "churn_model_c459b4f.skops", "v4", narrower)


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_a_corrupt_or_missing_model_file_is_unusable(saved_model: Path, tmp_path: Path, damage: str) -> None:
    folder = _copy_with(saved_model, tmp_path)
    target = folder / "model.skops"
    if damage == "corrupt":
        target.write_bytes(b"not a zip file")
    else:
        target.unlink()
    with pytest.raises(UnusableModelError, match="cannot load model.skops"):
        load_skops_model(folder, "v2", SKOPS_TRUSTED_TYPES)


@pytest.mark.parametrize("error", [MemoryError(), OSError(5, "Input/output error")], ids=["memory", "disk"])
def test_a_workers_error_while_loading_propagates_and_is_not_unusable(
    saved_model: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    from include.retraining.tracking.loading import import_skops

    def load(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(import_skops(), "load", load)
    with pytest.raises(type(error)) as raised:
        load_skops_model(saved_model, "v2", SKOPS_TRUSTED_TYPES)
    assert not isinstance(raised.value, UnusableModelError)


@pytest.mark.parametrize("mlmodel", ["missing", "not sklearn"])
def test_a_folder_without_a_sklearn_mlmodel_is_unusable(saved_model: Path, tmp_path: Path, mlmodel: str) -> None:
    folder = _copy_with(saved_model, tmp_path)
    if mlmodel == "missing":
        (folder / "MLmodel").unlink()
    else:
        spec = yaml.safe_load((folder / "MLmodel").read_text())
        del spec["flavors"]["sklearn"]
        (folder / "MLmodel").write_text(yaml.safe_dump(spec))
    with pytest.raises(UnusableModelError, match="no readable MLmodel file|not a scikit-learn model"):
        model_file(folder, "v5", SKOPS_TRUSTED_TYPES)


def test_a_model_logged_before_the_packages_loads_and_scores_as_it_did() -> None:
    model = load_model_file(LEGACY / "churn_model_c459b4f.skops", "churn v1 (c459b4f)", SKOPS_TRUSTED_TYPES)
    rows = pd.read_csv(LEGACY / "churn_rows.csv")

    scores = model.predict_proba(rows)[:, 1]

    assert np.allclose(scores, np.loadtxt(LEGACY / "churn_scores_c459b4f.txt"), rtol=0, atol=1e-12)


def test_models_logged_now_name_the_converters_as_the_old_ones_did() -> None:
    from include.retraining.features import preprocessing

    assert preprocessing._as_float.__module__ == "include.retraining.features"
    assert preprocessing._as_text.__module__ == "include.retraining.features"


def test_a_crafted_model_file_under_a_clean_mlmodel_is_refused(saved_model: Path, tmp_path: Path) -> None:
    # The attack path: the MLmodel file asks for nothing unusual, the skops file holds a type of its own.
    from sklearn.pipeline import Pipeline

    folder = _copy_with(saved_model, tmp_path)
    crafted = Pipeline([("model", _NotOurs())])
    import_skops().dump(crafted, folder / "model.skops")

    with pytest.raises(UnsafeModelError, match=r"holds types outside the project's list.*_NotOurs"):
        load_skops_model(folder, "v6", SKOPS_TRUSTED_TYPES)


def test_a_type_the_model_file_trusts_loads_only_through_a_loader_that_trusts_it(tmp_path: Path) -> None:
    from sklearn.pipeline import Pipeline

    from tests.support_models import SmallForest

    own = "tests.support_models.SmallForest"
    frame = pd.DataFrame({"x": np.arange(20.0)})
    model = Pipeline([("model", SmallForest(n_estimators=2, random_state=0))]).fit(frame, np.arange(20) % 2)
    with_own = [*SKOPS_TRUSTED_TYPES, own]
    assert untrusted_types(model, SKOPS_TRUSTED_TYPES) == [own] and untrusted_types(model, with_own) == []
    folder = save_skops_model(model, tmp_path / "model", trusted=with_own)

    assert load_skops_model(folder, "v1", with_own).predict(frame).tolist() == model.predict(frame).tolist()
    with pytest.raises(
        UnsafeModelError, match=r"asks to trust \['tests.support_models.SmallForest'\].*training.trusted_types"
    ):
        load_skops_model(folder, "v1", SKOPS_TRUSTED_TYPES)
    clean = _copy_with(folder, tmp_path, skops_trusted_types=SKOPS_TRUSTED_TYPES)  # a file that hides what it holds
    with pytest.raises(UnsafeModelError, match=r"training.trusted_types: \['tests.support_models.SmallForest'\]"):
        load_skops_model(clean, "v1", SKOPS_TRUSTED_TYPES)


class _NotOurs:
    """A type no worker should deserialize from a model file."""

    def fit(self, frame: pd.DataFrame, target: np.ndarray) -> _NotOurs:
        return self
