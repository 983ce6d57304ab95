"""MLflow's scoring protocol over the version the follower serves, behind a token and limits.

MLflow's own scoring server (`mlflow.pyfunc.scoring_server.init`) binds one model loaded at
start, so it cannot follow an alias. This app speaks the same protocol (`/invocations` taking
`dataframe_split`, `dataframe_records`, `instances`, `inputs`, CSV or Parquet and answering
`{"predictions": [...]}`, `/ping`, `/health`, `/version`) with the version read once at the start
of a request. What it adds:

- every value is checked against its column's type before scoring (the batch scorer's check,
  include/retraining/score/values.py): a 400 names the column, the row and what was expected;
- `/invocations` and `/version` need the bearer token when one is set (SERVING_TOKEN);
- a body over the size limit gets a 413 before it is read, more rows than the limit a 413,
  more requests at once than the pool admits a 503; scoring runs on a bounded thread pool;
- an error body is `{"error_code", "message", "request_id"}` (and `problems` per column): never
  a row of the request or a stack trace, which go to the server log under the request id;
- `/metrics` (Prometheus text format, behind the token): answers by status code, latency, the
  version served, swaps, requests in flight, the registry confirmation's age (serving/metrics.py);
- every answer is queued for the inference log (serving/inference_log.py): its rows, scores and
  version written in batches to the predictions table by a background thread, never on the
  request's time; the app's shutdown writes what is queued;
- with a canary (`serving.canary`, serving/canary.py), its share of rows is answered by the version
  on canary, the champion scoring them too in shadow; both are logged, the answering one marked;
- every answer to `/invocations` carries the version that scored it (`X-Model-Version`; a request
  answered partly by the canary: `<champion>,<canary>`) and its
  request id (`X-Request-Id`); `/version` names the model version served (MLflow's names the
  MLflow release, kept here as `mlflow_version`); `/health` answers 503 once the served version
  is staler than SERVING_MAX_STALENESS (the registry unreachable or the alias gone).

This is the only serving module that imports mlflow; registry reads and model loads go through
the project's adapters (serving/source.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from mlflow.version import VERSION as MLFLOW_VERSION
from starlette.requests import ClientDisconnect

from include.retraining.inference import Answer, InferenceLog
from serving.canary import Canary
from serving.follower import AliasFollower, Served, ServingInputError
from serving.limits import ServingLimits
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.metrics import ServingMetrics
from serving.requests import RequestError, read_request

VERSION_HEADER = "X-Model-Version"
REQUEST_ID_HEADER = "X-Request-Id"
_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}

log = logging.getLogger(__name__)


def _error(status: int, message: str, request_id: str, headers: dict[str, str], **extra: Any) -> JSONResponse:
    code = _CODES.get(status, "TEMPORARILY_UNAVAILABLE" if status == 503 else "INTERNAL_ERROR")
    body = {"error_code": code, "message": message, "request_id": request_id, **extra}
    return JSONResponse(body, status_code=status, headers={**headers, REQUEST_ID_HEADER: request_id})


def _unavailable(follower: AliasFollower, request_id: str = "") -> JSONResponse:
    message = f"no version of {follower.model_name!r} is loaded yet"
    return _error(503, message, request_id or uuid.uuid4().hex, {})


def _unauthorized(request_id: str) -> JSONResponse:
    message = "this server needs its token: send the header `Authorization: Bearer <SERVING_TOKEN>`"
    return _error(401, message, request_id, {"WWW-Authenticate": "Bearer"})


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it is known to exceed `limit` bytes: by its declared
    length before a byte is read, else while it streams in (chunked), never buffering more."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, "the Content-Length header is not a number")
        if int(declared) > limit:
            raise RequestError(413, f"the body is {int(declared)} bytes; this server takes at most {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"the body is over {limit} bytes, the most this server takes")
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(
    served: Served,
    body: bytes,
    content_type: str,
    limits: ServingLimits,
    logged: InferenceLog | None,
    request_id: str,
    canary: Canary | None = None,
) -> tuple[bytes, str]:
    """Parse, check and score one request on a pool thread, and queue it for the inference log;
    the JSON of its predictions and the versions that answered (comma-separated)."""
    frame = read_request(body, content_type, served.numeric)
    if len(frame) > limits.max_rows:
        raise RequestError(413, f"the request has {len(frame)} rows; this server scores at most {limits.max_rows}")
    frame = frame.reset_index(drop=True)  # row numbers in messages are positions in the request
    try:
        scores = served.score(frame)
    except ServingInputError as exc:
        raise RequestError(400, str(exc), exc.problems) from None
    answers = [(served, frame, scores, None, None)]
    answer, versions = _predictions(scores), served.version
    challenger = canary.served if canary is not None else None
    if challenger is not None:
        canary_answers = _canary_answers(challenger, frame, canary.rows(frame), scores, request_id)
        if canary_answers is not None:
            answer, answered, positions, challenger_scores = canary_answers
            answers = [(served, frame, scores, ~answered, None)]
            answers.append((challenger, frame.loc[answered], challenger_scores, None, positions))
            versions = f"{served.version},{challenger.version}" if (~answered).any() else challenger.version
    if logged is not None:  # queued only: a full queue drops and counts, never delays the answer
        answered_at = datetime.now(UTC).replace(tzinfo=None)
        for by, rows, scored, answered, positions in answers:
            logged.submit(
                Answer(by.model_name, by.version, by.alias, request_id, answered_at, rows, scored, answered, positions)
            )
    return json.dumps({"predictions": answer}).encode(), versions


def _predictions(scores: Any) -> list[Any]:
    """The answer's rows in MLflow's scoring protocol: a number each, or for a multiclass model an
    object of class probabilities each (as MLflow answers a model that returns a frame)."""
    if isinstance(scores, pd.DataFrame):
        return scores.astype("float64").to_dict(orient="records")
    return np.asarray(scores, dtype="float64").tolist()


def _canary_answers(
    challenger: Served, frame: pd.DataFrame, chosen: np.ndarray, scores: Any, request_id: str
) -> tuple[list[Any], np.ndarray, np.ndarray, Any] | None:
    """(the answer's rows, which rows the canary answered, their positions, its scores), or None
    when it answers none; a canary that fails to score leaves the champion's answer (logged, never
    a 500)."""
    if not chosen.any():
        return None
    positions = np.flatnonzero(chosen)
    try:
        challenger_scores = challenger.score(frame.loc[chosen])
    except Exception:  # the champion answered: a broken canary must not fail the request
        log.exception("request %s: canary version %s failed; the champion answered", request_id, challenger.version)
        return None
    answer = _predictions(scores)
    for position, row in zip(positions.tolist(), _predictions(challenger_scores), strict=True):
        answer[position] = row
    return answer, chosen, positions, challenger_scores


def create_app(
    follower: AliasFollower,
    follow: bool = True,
    limits: ServingLimits | None = None,
    inference_log: InferenceLog | None = None,
    canary: Canary | None = None,
) -> FastAPI:
    """The app; with `follow`, a poller thread follows the alias for as long as the app runs; with
    an `inference_log`, its writer runs as long as the app and writes what is queued at shutdown."""
    limits = limits or ServingLimits()
    pool = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="score")
    pending = 0  # requests admitted, read and changed on the event loop only

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        pollers = [threading.Thread(target=follower.run, args=(stop,), name="alias-follower", daemon=True)]
        if canary is not None:
            pollers.append(threading.Thread(target=canary.follower.run, args=(stop,), name="canary", daemon=True))
        if follow:
            for poller in pollers:
                poller.start()
        if inference_log is not None:
            inference_log.start()
        yield
        stop.set()
        if follow:
            for poller in pollers:
                poller.join(timeout=10)
        pool.shutdown(wait=True, cancel_futures=True)  # answers being scored are queued before the flush
        if inference_log is not None:
            counts = inference_log.close()
            log.info("inference log closed: %d rows written, %d dropped", counts.written, counts.dropped)

    app = FastAPI(title=f"{follower.model_name}@{follower.alias}", lifespan=lifespan)
    metrics = ServingMetrics(follower, lambda: pending, inference_log.counts if inference_log else None)

    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Response:
        if request.url.path != "/invocations":
            return await call_next(request)
        started = time.perf_counter()
        response = await call_next(request)
        metrics.observe(response.status_code, time.perf_counter() - started)
        return response

    @app.get("/metrics")
    async def prometheus(request: Request) -> Response:
        """Prometheus' text format; behind the token, as /version."""
        if not limits.authorized(request.headers.get("authorization")):
            return _unauthorized(uuid.uuid4().hex)
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @app.get("/ping")
    async def ping() -> Response:
        """MLflow's liveness answer: 200 once a version is loaded."""
        return Response("\n", status_code=200 if follower.served else 503, media_type="application/json")

    @app.get("/health")
    async def health() -> JSONResponse:
        """What is served, what the alias says, and the last problem: 200 while a version serves that
        the registry confirmed within the staleness limit, else 503."""
        state = follower.state()
        stale = state.stale(follower.now(), limits.max_staleness_seconds)
        body = {"model": follower.model_name, "alias": follower.alias, "poll_seconds": follower.poll_seconds}
        body |= {**state.to_json(), "max_staleness_seconds": limits.max_staleness_seconds}
        if stale:
            body["status"] = "stale"
        return JSONResponse(body, status_code=200 if state.served and not stale else 503)

    @app.get("/version")
    async def version(request: Request) -> JSONResponse:
        if not limits.authorized(request.headers.get("authorization")):
            return _unauthorized(uuid.uuid4().hex)
        served = follower.served
        if served is None:
            return _unavailable(follower)
        described = {**served.describe(), "mlflow_version": MLFLOW_VERSION}
        return JSONResponse({**described, "canary": canary.describe()} if canary is not None else described)

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        nonlocal pending
        request_id = uuid.uuid4().hex
        if not limits.authorized(request.headers.get("authorization")):
            return _unauthorized(request_id)
        served = follower.served  # read once: this request is scored by this version, swap or not
        if served is None:
            return _unavailable(follower, request_id)
        headers = {VERSION_HEADER: served.version}
        if pending >= limits.max_pending:
            message = f"{pending} requests are being served, the most this server admits at once; retry shortly"
            return _error(503, message, request_id, {**headers, "Retry-After": "1"})
        pending += 1
        try:
            body = await _read_body(request, limits.max_body_bytes)
            content_type = request.headers.get("content-type") or ""
            loop = asyncio.get_running_loop()
            result, versions = await loop.run_in_executor(
                pool, _answer, served, body, content_type, limits, inference_log, request_id, canary
            )
        except ClientDisconnect:
            log.info("request %s: the client went away before its body was read", request_id)
            return _error(400, "the client disconnected before the body was read", request_id, headers)
        except RequestError as exc:
            log.info("request %s refused (%d): %s", request_id, exc.status, exc.message)
            extra = {"problems": exc.problems} if exc.problems else {}
            return _error(exc.status, exc.message, request_id, headers, **extra)
        except Exception:
            log.exception("request %s failed while scoring with version %s", request_id, served.version)
            message = f"the server failed to score this request; its log has the detail under request id {request_id}"
            return _error(500, message, request_id, headers)
        finally:
            pending -= 1
        headers = {VERSION_HEADER: versions, REQUEST_ID_HEADER: request_id}
        return Response(result, media_type="application/json", headers=headers)

    return app
