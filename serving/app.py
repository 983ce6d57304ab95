"""MLflow's scoring protocol over the version the follower serves.

MLflow's own scoring server (`mlflow.pyfunc.scoring_server.init`) binds one model loaded at
start, so it cannot follow an alias; its request handling can be reused as is. `/invocations`
hands the body to `scoring_server.invocations`, MLflow's parsing of every input format
(`dataframe_split`, `dataframe_records`, `instances`, `inputs`, CSV, Parquet), its error answers
and its `{"predictions": [...]}` response, with the version read once at the start of the
request. What changes: `/version` names the model version served (MLflow's names the MLflow
release, kept here as `mlflow_version`), `/health` says what the follower knows, and every
answer to `/invocations` carries the version that scored it in the `X-Model-Version` header.

This is the only serving module that imports mlflow; registry reads and model loads go through
the project's adapters (serving/source.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST
from mlflow.pyfunc import scoring_server
from mlflow.version import VERSION as MLFLOW_VERSION

from serving.follower import AliasFollower, Served, ServingInputError

VERSION_HEADER = "X-Model-Version"


class _ProtocolModel:
    """What `scoring_server.invocations` calls: `predict(data)` and `metadata` (none: no LLM
    parameters, no signature casting, so rows reach the pipeline as the batch scorer's do)."""

    metadata = None

    def __init__(self, served: Served) -> None:
        self._served = served

    def predict(self, data: Any) -> Any:
        frame = data if isinstance(data, pd.DataFrame) else _as_frame(data)
        try:
            return self._served.score(frame)
        except ServingInputError as exc:
            raise MlflowException(str(exc), error_code=BAD_REQUEST) from exc


def _as_frame(data: Any) -> pd.DataFrame:
    """`instances` and `inputs` arrive as {column: array}; `instances` wraps each value in a 0-d array."""
    if isinstance(data, dict):
        data = {column: _column(values) for column, values in data.items()}
    try:
        return pd.DataFrame(data)
    except (TypeError, ValueError) as exc:
        raise MlflowException(
            f"cannot read the input as rows of feature columns ({exc}); send dataframe_split or dataframe_records",
            error_code=BAD_REQUEST,
        ) from exc


def _column(values: Any) -> Any:
    items = np.asarray(values, dtype=object)
    if items.ndim > 1:
        return values  # not a column of scalars: pandas says why
    return [item.item() if isinstance(item, np.ndarray) and item.ndim == 0 else item for item in items.reshape(-1)]


def _unavailable(follower: AliasFollower) -> JSONResponse:
    state = follower.state()
    message = f"no version of {follower.model_name!r} is loaded yet: {state.error or 'first poll pending'}"
    return JSONResponse({"error_code": "TEMPORARILY_UNAVAILABLE", "message": message}, status_code=503)


def create_app(follower: AliasFollower, follow: bool = True) -> FastAPI:
    """The app; with `follow`, a poller thread follows the alias for as long as the app runs."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        poller = threading.Thread(target=follower.run, args=(stop,), name="alias-follower", daemon=True)
        if follow:
            poller.start()
        yield
        stop.set()
        if follow:
            poller.join(timeout=10)

    app = FastAPI(title=f"{follower.model_name}@{follower.alias}", lifespan=lifespan)

    @app.get("/ping")
    async def ping() -> Response:
        """MLflow's liveness answer: 200 once a version is loaded."""
        return Response("\n", status_code=200 if follower.served else 503, media_type="application/json")

    @app.get("/health")
    async def health() -> JSONResponse:
        """What is served, what the alias says, and the last problem (200 while a version serves)."""
        state = follower.state()
        body = {"model": follower.model_name, "alias": follower.alias, "poll_seconds": follower.poll_seconds}
        return JSONResponse({**body, **state.to_json()}, status_code=200 if state.served else 503)

    @app.get("/version")
    async def version() -> JSONResponse:
        served = follower.served
        if served is None:
            return _unavailable(follower)
        return JSONResponse({**served.describe(), "mlflow_version": MLFLOW_VERSION})

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        served = follower.served  # read once: this request is scored by this version, swap or not
        if served is None:
            return _unavailable(follower)
        body = await request.body()
        content_type = request.headers.get("content-type") or ""
        headers = {VERSION_HEADER: served.version}
        try:
            result = await asyncio.to_thread(
                scoring_server.invocations, body, content_type, _ProtocolModel(served), None
            )
        except MlflowException as exc:
            status = exc.get_http_status_code()
            return Response(exc.serialize_as_json(), status_code=status, media_type="application/json", headers=headers)
        return Response(result.response, status_code=result.status, media_type=result.mimetype, headers=headers)

    return app
