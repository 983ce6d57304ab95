"""A request body as rows of feature columns, in MLflow's scoring-protocol formats, and the
refusals a client may read.

JSON (`dataframe_split`, `dataframe_records`, `instances`, `inputs`), CSV and Parquet, as MLflow's
scoring server takes them; parsed here rather than by MLflow, because its parser turns a `NaN`
literal into a null (imputed) and its errors quote the request's rows back. A JSON value keeps
its JSON type (text stays text, a `NaN` or `Infinity` literal becomes a `NonFinite`), so the batch
scorer's bad-value check (include/retraining/score/values.py) sees what the client sent. No
message here holds a value of the request.
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection
from typing import Any

import pandas as pd

from include.retraining.score import NonFinite, numbers_from_text

JSON, CSV, PARQUET = "application/json", "text/csv", "application/vnd.apache.parquet"
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARAMS = "params"  # MLflow's inference parameters: accepted, unused by these models


class RequestError(Exception):
    """A request the server refuses: the HTTP status, a message, and per-column problems."""

    def __init__(self, status: int, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []


def read_request(body: bytes, content_type: str, numeric: Collection[str] = ()) -> pd.DataFrame:
    """The rows of the body; `numeric`: the served version's numeric features (CSV cells in them
    that spell a number become numbers, as a typed column's would)."""
    mime, _, parameters = content_type.partition(";")
    mime = mime.strip().lower()
    charset = dict(_pair(p) for p in parameters.split(";") if p.strip()).get("charset", "utf-8").lower()
    if charset != "utf-8":
        raise RequestError(415, f"the scoring server reads UTF-8 only, got charset {charset!r}")
    if mime == JSON:
        return _json_frame(body)
    if mime == CSV:
        return _csv_frame(body, numeric)
    if mime == PARQUET:
        return _parquet_frame(body)
    raise RequestError(415, f"this server takes these content types: {JSON}, {CSV}, {PARQUET}; got {mime!r}")


def _pair(parameter: str) -> tuple[str, str]:
    key, _, value = parameter.partition("=")
    return key.strip().lower(), value.strip().strip('"')


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, f"the body is not valid UTF-8 (byte {exc.start})") from None


def _json_frame(body: bytes) -> pd.DataFrame:
    try:
        decoded = json.loads(_text(body), parse_constant=NonFinite)
    except json.JSONDecodeError as exc:
        raise RequestError(
            400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(decoded, dict):
        raise RequestError(400, f"send a JSON object with exactly one of the input fields {list(FORMATS)}")
    fields = [key for key in decoded if key in FORMATS]
    unknown = [key for key in decoded if key not in FORMATS and key != PARAMS]
    if len(fields) != 1 or unknown:
        raise RequestError(
            400,
            f"send a JSON object with exactly one of the input fields {list(FORMATS)} (and optionally "
            f"{PARAMS!r}); got the fields {[str(k)[:40] for k in decoded][:10]}",
        )
    field = fields[0]
    rows = decoded[field]
    if field == "dataframe_split":
        return _split(rows)
    if field == "inputs" and isinstance(rows, dict):
        return _columns(rows)
    return _records(rows, field)


def _records(rows: Any, field: str) -> pd.DataFrame:
    if not isinstance(rows, list):
        raise RequestError(400, f"{field!r} must be a list of rows, each an object of feature: value")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RequestError(400, f"{field!r} row {i} is not an object of feature: value")
    return pd.DataFrame(rows)


def _split(split: Any) -> pd.DataFrame:
    if not isinstance(split, dict) or "data" not in split or set(split) - {"columns", "data", "index"}:
        raise RequestError(400, "'dataframe_split' must be an object with 'data' and optionally 'columns' and 'index'")
    data, columns = split["data"], split.get("columns")
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise RequestError(400, "'dataframe_split' 'data' must be a list of rows, each a list of values")
    if columns is not None and (
        not isinstance(columns, list)
        or not all(isinstance(c, str) for c in columns)
        or len(set(columns)) < len(columns)
    ):
        raise RequestError(400, "'dataframe_split' 'columns' must be a list of distinct column names")
    width = len(columns) if columns is not None else len(data[0]) if data else 0
    ragged = next((i for i, row in enumerate(data) if len(row) != width), None)
    if ragged is not None:
        raise RequestError(400, f"'dataframe_split' row {ragged} does not have {width} values, one per column")
    return pd.DataFrame(data, columns=columns)


def _columns(columns: dict[str, Any]) -> pd.DataFrame:
    """`inputs` as {column: [values]}, or one row as {column: value}."""
    lists = [isinstance(v, list) for v in columns.values()]
    if not any(lists):
        return pd.DataFrame([columns])
    if not all(lists) or len({len(v) for v in columns.values()}) != 1:
        raise RequestError(400, "'inputs' as columns must give every column a list of the same length")
    return pd.DataFrame(columns)


def _csv_frame(body: bytes, numeric: Collection[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.StringIO(_text(body)))
    except (ValueError, pd.errors.ParserError) as exc:
        raise RequestError(400, f"the body is not a CSV table with a header row ({type(exc).__name__})") from None
    return numbers_from_text(frame, list(numeric))


def _parquet_frame(body: bytes) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(body))
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file; none is the server's fault
        raise RequestError(400, f"the body is not a Parquet file ({type(exc).__name__})") from None
