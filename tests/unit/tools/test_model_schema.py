"""The published model-file schema is the loader's: up to date, accepting the shipped model files
and refusing what the loader refuses by key."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.support import REPO
from tools.model_schema import SCHEMA_FILE, main, model_file_schema

pytestmark = pytest.mark.unit

MODEL_FILES = [REPO / "include" / "models" / "churn.yaml", REPO / "examples" / "models" / "doctor_visits.yaml"]


def test_the_committed_schema_is_the_one_the_loader_implies() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == model_file_schema(), "run `make schema`"
    assert main(["--check"]) == 0


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_the_shipped_model_files_validate_and_point_editors_at_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), model_file_schema())
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (path.parent / first.split("$schema=", 1)[1]).resolve() == SCHEMA_FILE


def test_a_misspelled_key_is_flagged_by_the_schema_as_by_the_loader() -> None:
    data = yaml.safe_load(MODEL_FILES[0].read_text())
    data["monitor"]["cooldwn_hours"] = 12

    with pytest.raises(jsonschema.ValidationError, match="cooldwn_hours"):
        jsonschema.validate(data, model_file_schema())


def test_check_fails_on_a_stale_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "model-file.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr("tools.model_schema.SCHEMA_FILE", stale)

    assert main(["--check"]) == 1
