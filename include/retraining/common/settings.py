"""Where things live, read from the environment so every deployment configures it from outside.

Every environment variable the pipeline, its DAG files and its UI plugin read is read here,
once. The defaults are the embedded laptop setup: everything under a git-ignored `.data/` folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MLFLOW_UI_URL = "http://localhost:5000"  # what `make mlflow` serves for the embedded store
DEFAULT_AIRFLOW_BASE_URL = "http://localhost:8080"
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    # A local folder, or an fsspec URL (`s3://bucket/prefix`) kept as written: the artifact store
    # (include/retraining/artifacts/store.py) resolves either.
    artifact_root: Path | str
    models_dir: Path
    tracking_uri: str
    warehouse_default_url: str
    # The pipeline's own tables (monitoring, promotion log, predictions) beside the embedded
    # warehouse, never inside it: the source stays read-only (the connection `retraining_db`
    # names another database).
    pipeline_default_url: str
    # The JSON-lines outbox of releases before the table (`alert_outbox`): imported once, then
    # renamed `<name>.imported`.
    alerts_file: Path
    airflow_base_url: str
    mlflow_ui_url: str | None = None
    serve_artifacts: bool = True
    task_retries: int = 2
    # The first retry's wait; each further retry waits twice as long, up to 10 minutes.
    task_retry_delay: timedelta = timedelta(seconds=30)
    task_timeout: timedelta = timedelta(hours=2)
    dagrun_timeout: timedelta = timedelta(hours=12)
    # OpenMP/BLAS threads a task's fit and scoring may use. One per task by default: a worker
    # runs several tasks on few cores, and oversubscribed OpenMP ran a fit 4-25x slower.
    fit_threads: int = 1
    # Delivered, failed and unconfirmed alerts are pruned from the outbox this long after their
    # last change; pending ones never are.
    alerts_retention: timedelta = timedelta(days=90)
    # The database role the REST server's inference log writes as (PostgreSQL): granted INSERT on
    # each predictions table the pipeline writes, and nothing else, so the most exposed process can
    # neither read nor change what was served, nor any other table.
    serving_db_role: str | None = None

    @property
    def mlflow_artifact_root(self) -> Path:
        """Artifact folder for a local (SQLite or file) tracking store; servers manage their own."""
        return self.data_dir / "mlartifacts"

    @property
    def tracking_is_local(self) -> bool:
        return not self.tracking_uri.startswith(("http://", "https://", "databricks"))

    @property
    def mlflow_ui_base(self) -> str:
        return mlflow_ui_base(self.tracking_uri, self.mlflow_ui_url)


def mlflow_ui_base(tracking_uri: str, ui_url: str | None) -> str:
    """Where a person opens MLflow: RETRAINING_MLFLOW_UI_URL, else an http(s) tracking server,
    else the local UI; never with the credentials a tracking URI may carry."""
    if ui_url:
        base = ui_url
    elif tracking_uri.startswith(("http://", "https://")):
        base = tracking_uri
    else:
        base = DEFAULT_MLFLOW_UI_URL
    return without_userinfo(base).rstrip("/")


def without_userinfo(url: str) -> str:
    """`https://user:token@host/x` -> `https://host/x`, so a link never carries a credential."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r}: expected a whole number") from None


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ValueError(f"environment variable {name}={value}: expected 1 or more")
    return value


def artifact_root(value: str, data_dir: Path) -> Path | str:
    """RETRAINING_ARTIFACT_ROOT: unset, `<data dir>/artifacts`; a path or `file://` URL, that
    folder; any other URL (`s3://bucket/prefix`, `gs://...`), the URL without a trailing slash."""
    if not value:
        return data_dir / "artifacts"
    scheme = urlsplit(value).scheme if "://" in value else ""
    if scheme in ("", "file"):
        return Path(urlsplit(value).path if scheme else value).resolve()
    if not urlsplit(value).netloc:
        raise ValueError(
            f"environment variable RETRAINING_ARTIFACT_ROOT={value!r}: expected a folder or a URL like s3://bucket/prefix"
        )
    return value.rstrip("/")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("RETRAINING_DATA_DIR", REPO_ROOT / ".data")).resolve()
    return Settings(
        data_dir=data_dir,
        artifact_root=artifact_root(env.get("RETRAINING_ARTIFACT_ROOT", "").strip(), data_dir),
        models_dir=Path(env.get("RETRAINING_MODELS_DIR", REPO_ROOT / "include" / "models")).resolve(),
        tracking_uri=env.get("MLFLOW_TRACKING_URI", f"sqlite:///{data_dir / 'mlflow.db'}"),
        warehouse_default_url=f"sqlite:///{data_dir / 'warehouse.db'}",
        pipeline_default_url=f"sqlite:///{data_dir / 'pipeline.db'}",
        alerts_file=Path(env.get("RETRAINING_ALERTS_FILE", data_dir / "alerts.jsonl")).resolve(),
        airflow_base_url=(env.get("AIRFLOW__API__BASE_URL") or DEFAULT_AIRFLOW_BASE_URL).rstrip("/"),
        mlflow_ui_url=env.get("RETRAINING_MLFLOW_UI_URL") or None,
        serve_artifacts=env.get("RETRAINING_SERVE_ARTIFACTS", "true").strip().lower() not in _FALSE,
        task_retries=_int(env, "RETRAINING_TASK_RETRIES", 2),
        task_retry_delay=timedelta(seconds=_positive(env, "RETRAINING_TASK_RETRY_DELAY_SECONDS", 30)),
        task_timeout=timedelta(minutes=_int(env, "RETRAINING_TASK_TIMEOUT_MINUTES", 120)),
        dagrun_timeout=timedelta(hours=_int(env, "RETRAINING_DAGRUN_TIMEOUT_HOURS", 12)),
        fit_threads=_positive(env, "RETRAINING_FIT_THREADS", 1),
        alerts_retention=timedelta(days=_positive(env, "RETRAINING_ALERTS_RETENTION_DAYS", 90)),
        serving_db_role=env.get("RETRAINING_SERVING_DB_ROLE", "").strip() or None,
    )
