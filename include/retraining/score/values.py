"""What "a value that is not of its column's type" means, once, for batch scoring and the REST server.

A numeric feature takes numbers (integers, floats, Decimals, booleans) and nulls; a categorical
feature takes text, numbers and nulls. Where the source has no type per value (a CSV body, a
warehouse text column), text that spells a number is that number (`numbers_from_text`); a JSON
request has types, so there `"12"` is text. Anything else is a bad value: text in a numeric feature
(`"twelve"`, `"N/A"`, `""`), a non-finite number (NaN or Infinity sent as a number, `inf` in a
float column), a list or an object where one value belongs. A null (None, a missing value) is
not a bad value: `scoring.nulls` governs those alone.

Messages name the column, the row and what was expected, never the value (it is customer data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd


class NonFinite:
    """A NaN or Infinity written as a literal in a request (`json.loads(..., parse_constant=NonFinite)`):
    a number the client sent, unlike a null, so it is refused instead of imputed. Not a float, so
    pandas keeps it as it is instead of turning a NaN into a null."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal

    def __repr__(self) -> str:
        return f"NonFinite({self.literal!r})"


class Problem(StrEnum):
    """What is wrong with a bad value (the first one of its column)."""

    TEXT = "text, not a number"
    NON_FINITE = "a non-finite number (NaN or Infinity)"
    NESTED = "a list or an object, not a single value"
    OTHER = "a value of another type"
    # Not bad values, refused by the model file's policy (`scoring.nulls`, `scoring.unseen_categories`):
    NULL = "a null"
    UNSEEN = "a category the model never saw in training"


NUMBER, CATEGORY = "a number", "a category (text or a number)"


@dataclass(frozen=True)
class BadColumn:
    """The bad values of one feature column: how many rows, the first row (0-based position), why."""

    column: str
    expected: str
    problem: Problem
    rows: int
    first_row: int

    def message(self) -> str:
        more = f" ({self.rows} rows of this column)" if self.rows > 1 else ""
        return f"column {self.column!r} row {self.first_row}: {self.problem.value}; expected {self.expected}{more}"

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "row": self.first_row,
            "expected": self.expected,
            "problem": self.problem.value,
            "rows": self.rows,
        }


@dataclass(frozen=True)
class BadValues:
    """Every bad value of a frame, per column, and where they are (to blank them under `impute`)."""

    columns: list[BadColumn]
    masks: dict[str, np.ndarray]

    def __bool__(self) -> bool:
        return bool(self.columns)

    def counts(self) -> dict[str, int]:
        return {bad.column: bad.rows for bad in self.columns}

    def blanked(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with every bad value a null, for the pipeline's imputation (`scoring.nulls: impute`)."""
        if not self.masks:
            return frame
        frame = frame.copy()
        for column, mask in self.masks.items():
            values = frame[column].astype(object) if frame[column].dtype != object else frame[column].copy()
            values[mask] = None
            frame[column] = values
        return frame


def find_bad_values(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> BadValues:
    """The bad values of the frame's `numeric` and `categorical` columns (those it has)."""
    found, masks = [], {}
    for columns, expected in ((numeric, NUMBER), (categorical, CATEGORY)):
        for column in columns:
            if column not in frame.columns:
                continue
            problems = _problems(frame[column], expected == NUMBER)
            if problems is None:
                continue
            mask = problems.notna().to_numpy()
            if mask.any():
                first = int(np.flatnonzero(mask)[0])
                found.append(BadColumn(column, expected, problems.iat[first], int(mask.sum()), first))
                masks[column] = mask
    return BadValues(found, masks)


def numbers_from_text(frame: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """The frame with every text cell of a `numeric` column that spells a number (`"12"`, `"1e3"`)
    as that number: for sources with no type per value (a CSV body, a warehouse text column). Text
    that is not a number stays, to be found by `find_bad_values`."""
    converted = {}
    for column in numeric:
        if column not in frame.columns or frame[column].dtype != object:
            continue
        values = frame[column]
        text = values.map(lambda value: isinstance(value, str)).astype(bool)
        if text.any():
            numbers = pd.to_numeric(values.where(text), errors="coerce")
            converted[column] = values.where(~(text & numbers.notna()), numbers.astype(object))
    return frame.assign(**converted) if converted else frame


def _problems(values: pd.Series, numeric: bool) -> pd.Series | None:
    """A Problem (or None) per value; None for the whole column when it cannot hold one."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        infinite = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
        if not infinite.any():
            return None
        problems = np.full(len(values), None, dtype=object)
        problems[infinite] = Problem.NON_FINITE
        return pd.Series(problems, index=values.index, dtype=object)
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    # pandas' own scan first (C speed): a window's category column of plain text needs no look per value.
    if pd.api.types.infer_dtype(values, skipna=True) in _CLEAN[numeric]:
        return None
    return values.map(_numeric_problem if numeric else _category_problem, na_action=None).astype(object)


# What pandas' `infer_dtype` may say of an object column that holds no bad value, by numeric or not
# (floats are not here: one of them may be infinite).
_CLEAN = {True: {"empty", "integer", "boolean"}, False: {"empty", "string", "integer", "boolean"}}


def _finite_problem(value: Any) -> Problem | None:
    """A number: None when finite or a null (NaN); NON_FINITE otherwise (a literal NaN included)."""
    if isinstance(value, NonFinite):
        return Problem.NON_FINITE
    number = float(value)
    if math.isnan(number) or math.isfinite(number):
        return None
    return Problem.NON_FINITE


def _numeric_problem(value: Any) -> Problem | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, NonFinite | bool | np.bool_ | int | float | Decimal | np.number):
        return _finite_problem(value)
    if isinstance(value, str | bytes):
        return Problem.TEXT
    return _shape_problem(value) or Problem.OTHER


def _category_problem(value: Any) -> Problem | None:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, NonFinite | bool | np.bool_ | int | float | Decimal | np.number):
        return _finite_problem(value)
    return _shape_problem(value)


def _shape_problem(value: Any) -> Problem | None:
    return Problem.NESTED if isinstance(value, list | tuple | dict | set | np.ndarray) else None
