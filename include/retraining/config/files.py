"""Reading model files from disk: every way a file can be unusable becomes a `ModelConfigError`
that names the file and the fix, so one bad file never hides the other models' DAGs.

The schema of the content is include.retraining.config.model's `ModelConfig`.
"""

from __future__ import annotations

import difflib
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from include.retraining.config.model import ModelConfig

log = logging.getLogger(__name__)
SUFFIXES = (".yaml", ".yml")


class ModelConfigError(ValueError):
    """A model file that cannot be used; the message names the file, the key and the fix."""


# libyaml's parser when PyYAML has it: with 50 model files it took the CPU time of loading dags/
# from 0.79 s to 0.64 s (bench/parse_bench.py). Same constructor, so the same duplicate-key errors.
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_BASE_LOADER):
    """PyYAML keeps the last of two equal keys silently; a model file must not."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice (lines {seen[key]} and {line}); keep one",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_model_file(path: Path) -> Any:
    """The YAML content of a model file; unreadable, non-UTF-8 or malformed files are refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ModelConfigError(
            f"{path}: is a directory, not a model file; rename or remove it (model files are *.yaml files)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ModelConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r}); "
            "save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise ModelConfigError(
            f"{path}: cannot be read ({exc.strerror}); make it readable by the Airflow user or remove it"
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ModelConfigError(f"{path}: not valid YAML: {exc}") from None


# pydantic's bound errors: the context key of the bound, and how the fix says it.
_BOUNDS = {
    "greater_than": ("gt", "above"),
    "greater_than_equal": ("ge", "at or above"),
    "less_than": ("lt", "below"),
    "less_than_equal": ("le", "at or below"),
}
_NO_DEFAULT = object()


def _section_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section (a pydantic model) of ModelConfig at `loc`, or None (a mapping, a list or a
    plain value)."""
    model: Any = ModelConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        sections = [t for t in (field.annotation, *get_args(field.annotation)) if isinstance(t, type)]
        model = next((t for t in sections if issubclass(t, BaseModel)), None)
        if model is None:
            return None
    return model


def _default_at(loc: tuple[Any, ...]) -> Any:
    """The default of the key at `loc` in ModelConfig, or _NO_DEFAULT (a required key, or a
    location inside a mapping or a list)."""
    section = _section_at(loc[:-1])
    field = section.model_fields.get(loc[-1]) if section is not None and loc else None
    if field is None:
        return _NO_DEFAULT
    return _NO_DEFAULT if field.is_required() else field.get_default(call_default_factory=True)


def _unknown_key_fix(loc: tuple[Any, ...]) -> str:
    """For a key the section does not have: the closest valid key, and the valid ones."""
    section = _section_at(loc[:-1])
    if section is None or not loc:
        return "remove the key or correct its spelling"
    where = ".".join(str(p) for p in loc[:-1])
    valid = sorted(section.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    listed = f"valid keys{' of ' + where if where else ''}: {', '.join(valid)}"
    if close:
        return f"did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'? ({listed})"
    return f"remove the key or correct its spelling ({listed})"


def _fix_for(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return _unknown_key_fix(tuple(error["loc"]))
    if kind == "missing":
        return "add this key"
    if kind in _BOUNDS and _BOUNDS[kind][0] in error.get("ctx", {}):
        bound, words = _BOUNDS[kind]
        fix = f"set it {words} {error['ctx'][bound]}"
        default = _default_at(tuple(error["loc"]))
        if default is not _NO_DEFAULT:
            fix += f", or remove the key to use the default ({'null' if default is None else default})"
        return fix
    return "correct the value"


def format_validation_errors(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid model file ({exc.error_count()} problem(s))"]
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  - key '{key}': {message} -> {_fix_for(error)}")
    return "\n".join(lines)


def discover(models_dir: Path) -> tuple[list[Path], dict[Path, ModelConfigError]]:
    """The model files, and an error for each model that has two (`x.yaml` and `x.yml`)."""
    by_name: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(models_dir.iterdir()) if models_dir.is_dir() else []:
        if path.suffix in SUFFIXES:
            by_name[path.stem].append(path)
    files: list[Path] = []
    errors: dict[Path, ModelConfigError] = {}
    for name, paths in sorted(by_name.items()):
        if len(paths) == 1:
            files.append(paths[0])
            continue
        names = " and ".join(p.name for p in paths)
        for path in paths:
            errors[path] = ModelConfigError(
                f"{path}: model {name!r} has two files ({names}), which would give the same DAG ids; "
                f"keep one and delete the other"
            )
    return files, errors


def parse_model_config(data: Any, path: Path) -> ModelConfig:
    if not isinstance(data, dict):
        raise ModelConfigError(f"{path}: expected a YAML mapping of keys (name, task, source, ...)")
    try:
        config = ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ModelConfigError(format_validation_errors(path, exc)) from None
    if config.name != path.stem:
        raise ModelConfigError(
            f"{path}: key 'name' is {config.name!r} but the file is {path.name}; "
            f"rename the file to {config.name}.yaml or set name: {path.stem}"
        )
    if config.gate.threshold is None:
        # Warned, not refused: with a champion the comparison still gates. Without one, the
        # first trained model is promoted on no floor at all.
        log.warning(
            "%s: gate.threshold is not set, so the first model of %r is promoted whatever its %s; "
            "set gate.threshold to the worst acceptable value",
            path,
            config.name,
            config.primary_metric,
        )
    return config


def load_model_config(path: Path) -> ModelConfig:
    return parse_model_config(read_model_file(path), path)


def discover_model_files(models_dir: Path) -> list[Path]:
    return discover(models_dir)[0]


def load_model_configs(models_dir: Path) -> tuple[list[ModelConfig], dict[Path, ModelConfigError]]:
    """Every good config, and an error per bad file, so one bad file cannot hide the others."""
    paths, errors = discover(models_dir)
    configs: list[ModelConfig] = []
    for path in paths:
        try:
            configs.append(load_model_config(path))
        except ModelConfigError as exc:
            errors[path] = exc
    return configs, errors
