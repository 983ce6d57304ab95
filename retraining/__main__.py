"""`python -m retraining check [MODEL_FILE ...]` (also `make check`): check model files before they
are deployed, as the DAGs will use them. `python -m retraining backtest MODEL --start --end`
(also `make backtest`): what the model's policy would have done on its own history (docs/backtest.md).

For each model: the file loads (a misspelled key gets "did you mean"), the DAGs it makes and their
schedules, and, unless --offline, its source through the Airflow connection the runs use (columns,
usable timestamps, rows in the latest training window, one row per id and time there, an index
for the window reads, the rights the pipeline's tables need, in the connection `retraining_db` or
the source's database); then the MLflow store. Nothing is written anywhere. Exit status 1 on any
problem (warnings do not count), so CI can run it on every change to a model file; --json prints
the findings as JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO


def _utc(text: str) -> datetime:
    from include.retraining.common import as_utc

    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m retraining", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check model files, their sources and MLflow before deploying")
    check.add_argument("files", nargs="*", type=Path, help="model files (default: every file in the models folder)")
    check.add_argument("--offline", action="store_true", help="check the files only: no warehouse, no MLflow")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.add_argument(
        "--window-end",
        type=_utc,
        default=None,
        help="end of the training window to count rows in (ISO 8601, UTC unless it says otherwise; default: now)",
    )
    backtest = commands.add_parser("backtest", help="replay a model's history through its policy, in isolation")
    backtest.add_argument("model", help="the model's name (its file in the models folder)")
    backtest.add_argument("--start", type=_utc, required=True, help="first day (ISO 8601, UTC)")
    backtest.add_argument("--end", type=_utc, required=True, help="last day (ISO 8601, UTC); labels must have matured")
    backtest.add_argument("--out", type=Path, default=None, help="output folder (default: .data/backtest/<model>)")
    backtest.add_argument(
        "--monitor-cron", default=None, help="replay the monitor on this cron instead of monitor.schedule (faster)"
    )
    backtest.add_argument("--max-windows", type=int, default=None, help="stop after this many new windows")
    backtest.add_argument(
        "--rollback",
        action="append",
        default=[],
        metavar="AT[=REASON]",
        help="replay a rollback by hand of the champion to previous_champion at AT (ISO 8601), after the runs at "
        "that time, as rollback_<model> makes it; repeatable",
    )
    backtest.add_argument(
        "--source-before",
        action="append",
        default=[],
        metavar="UNTIL=URL",
        help="runs before UNTIL read the source at this SQLAlchemy URL (the warehouse as it was: a backup, a "
        "time-travel view); later runs read the model's connection; repeatable",
    )
    backtest.add_argument(
        "--verbose", action="store_true", help="the steps' own logs on stderr (default: backtest.log in --out)"
    )
    return parser


def backtest(args: argparse.Namespace) -> int:
    """Replay the model's history (include.retraining.backtest); progress on stderr, the summary on stdout."""
    import json

    from include.retraining.backtest import (
        LOG,
        BacktestPlanError,
        BacktestRequest,
        JournalMismatch,
        check_matured,
        library_logs_to,
        open_sources_before,
        parse_rollback,
        parse_source_before,
        run_backtest,
    )
    from include.retraining.common import load_settings
    from include.retraining.config import load_model_config

    if not args.verbose:
        _quiet()
    settings = load_settings()
    path = settings.models_dir / f"{args.model}.yaml"
    if not path.exists():
        print(f"no model file {path}: give the name of a file in {settings.models_dir}", file=sys.stderr)
        return 2
    config = load_model_config(path)
    out = args.out or settings.data_dir / "backtest" / config.name
    try:
        request = BacktestRequest(
            args.start, args.end, out, args.monitor_cron, args.max_windows,
            tuple(parse_rollback(text) for text in args.rollback),
            tuple(parse_source_before(text) for text in args.source_before),
        )  # fmt: skip
        # Refused before the output folder (and its log file) is made: nothing is left behind.
        check_matured(config, request.plan(config), datetime.now(UTC))
        from include.orchestration.runtime import source_warehouse

        source = source_warehouse(config.source.conn_id, settings)
        earlier = open_sources_before(config, source, request.sources_before)
        if args.verbose:
            with _logs_to_stderr():
                summary = run_backtest(config, settings, source, request, datetime.now(UTC), _say, earlier)
        else:
            # The libraries' lines go to a log file in the output folder; stderr keeps the progress.
            with library_logs_to(out / LOG) as terminal:
                progress = _progress_to(terminal)
                summary = run_backtest(config, settings, source, request, datetime.now(UTC), progress, earlier)
    except (BacktestPlanError, JournalMismatch) as exc:
        print(f"backtest refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, default=str), flush=True)
    return 0


def _quiet() -> None:
    """Progress lines only: the steps' info logs and MLflow's download bars would bury them."""
    import logging
    import warnings

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("include", "mlflow", "great_expectations", "evidently", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _progress_to(terminal: TextIO) -> Callable[[str], None]:
    return lambda text: print(text, file=terminal, flush=True)


def check(files: list[Path], offline: bool, window_end: datetime | None) -> list:
    from include.retraining.common import load_settings
    from include.retraining.preflight import (
        Finding,
        Status,
        artifact_store_findings,
        dag_findings,
        model_code_findings,
        model_file_findings,
        source_findings,
        tracking_findings,
    )

    settings = load_settings()
    configs, findings = model_file_findings(settings.models_dir, files)
    for config in configs:
        findings += dag_findings(config) + model_code_findings(config)
        if not offline:
            try:
                source, pipeline_db = _databases(config, settings)
            except ValueError as exc:  # a connection the pipeline cannot use as it is (DuckDB without retraining_db)
                findings.append(Finding(config.name, "pipeline", Status.PROBLEM, str(exc)))
                continue
            findings += source_findings(config, source, window_end or datetime.now(UTC), pipeline_db)
    if not offline:
        from include.retraining.tracking import Tracker

        findings += tracking_findings(settings, Tracker(settings, trusted_types=()))
        findings += artifact_store_findings(settings)
    return findings


def _databases(config, settings):
    """The source and the database of the pipeline's tables, through the Airflow connections the
    runs use (environment, secrets backend or metadata database)."""
    from include.orchestration.runtime import pipeline_database, source_warehouse

    source = source_warehouse(config.source.conn_id, settings)
    return source, pipeline_database(source, settings)


@contextmanager
def _logs_to_stderr() -> Iterator[None]:
    """What the libraries log while the checks run goes to stderr, at the file descriptor (Airflow's
    log handlers hold their own stdout): stdout carries the findings alone, for `--json | jq`."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "backtest":
        return backtest(args)
    # A tracking server that does not answer is a finding, not minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from include.retraining.preflight import Status, render_json, render_text

    with _logs_to_stderr():
        findings = check(args.files, args.offline, args.window_end)
    print(render_json(findings) if args.json else render_text(findings), flush=True)
    return 1 if any(f.status is Status.PROBLEM for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
