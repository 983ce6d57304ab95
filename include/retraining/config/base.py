"""What every section of the model file shares: strict models, identifier and cron checks."""

from __future__ import annotations

import re

from croniter import croniter
from pydantic import BaseModel, ConfigDict

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MODEL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def is_identifier(name: str) -> bool:
    return bool(IDENTIFIER_RE.match(name))


def is_model_name(name: str) -> bool:
    return bool(MODEL_NAME_RE.fullmatch(name))


def check_identifier(value: str, what: str) -> str:
    if not is_identifier(value):
        raise ValueError(
            f"{what} {value!r} is not a plain SQL identifier; use letters, digits and "
            "underscores only (at most 63 characters, not starting with a digit)"
        )
    return value


def repeated(names: list[str]) -> list[str]:
    """The names listed more than once, sorted: a column is one feature, listed once."""
    return sorted({name for name in names if names.count(name) > 1})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_cron(value: str) -> str:
    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression (e.g. '0 3 * * 1' or '@daily')")
    return value


def check_table(value: str) -> str:
    """`table` or `schema.table`, each part a plain identifier."""
    for part in value.split("."):
        check_identifier(part, "table name part")
    if value.count(".") > 1:
        raise ValueError(f"table {value!r}: use `table` or `schema.table`")
    return value


def check_select(value: str) -> str:
    """One read-only SELECT (or WITH ... SELECT), its trailing semicolon dropped."""
    text = value.strip().rstrip(";").strip()
    if ";" in text or not re.match(r"(?is)^(select|with)\b", text):
        raise ValueError("query must be a single SELECT (or WITH ... SELECT) statement")
    return text
