"""The Airflow UI as the operator's console, in a real browser: the native stack (api-server,
scheduler, dag-processor, triggerer, LocalExecutor) on a Postgres metadata database the test
creates and drops, a retrain triggered through the REST API, then Chromium, driven by Playwright,
logs in, opens the DAG and its finished run, and finds the plugin's links on the task instances.

Screenshots go to the test's tmp folder and to test-output/ui/ (git-ignored)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from demo.churn_data import STABLE, TABLE, generate_snapshots
from include.retraining.warehouse import replace_window
from tests.support import PG_ADMIN_URL, REPO, postgres_databases, service_unavailable
from tools.native_stack import ADMIN, NativeStack

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("RETRAINING_TEST_CHROMIUM", "/usr/bin/chromium"))
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START = datetime(2026, 1, 5, tzinfo=UTC)
TRAINED_AT = START + timedelta(weeks=10)
MLFLOW_UI = "http://mlflow.ui.test:5000"  # RETRAINING_MLFLOW_UI_URL: the embedded store has no server
SCREENSHOTS = REPO / "test-output" / "ui"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def chromium() -> str:
    if not CHROMIUM.is_file():
        service_unavailable(f"Chromium at {CHROMIUM}: `make chromium` installs Debian's package")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def ui_stack(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NativeStack]:
    airflow_db = f"ui_airflow_{uuid.uuid4().hex[:8]}"
    try:
        postgres_databases(airflow_db)
    except Exception as exc:  # noqa: BLE001 - no server, no stack
        service_unavailable(f"PostgreSQL at {PG_ADMIN_URL}: {exc}")
    home = tmp_path_factory.mktemp("ui-stack")
    warehouse = f"sqlite:///{home / 'data' / 'warehouse.db'}"
    (home / "data").mkdir()
    for week in range(10):
        begin = START + timedelta(weeks=week)
        frame = generate_snapshots(900, begin, begin + timedelta(weeks=1), seed=11, world=STABLE)
        replace_window(warehouse, TABLE, frame, "snapshot_at", begin, begin + timedelta(weeks=1))
    stack = NativeStack(
        home=home,
        metadata_url=sa.engine.make_url(PG_ADMIN_URL).set(database=airflow_db).render_as_string(hide_password=False),
        executor="LocalExecutor",
        extra_env={"RETRAINING_TASK_RETRIES": "0", "RETRAINING_MLFLOW_UI_URL": MLFLOW_UI},
    )
    try:
        stack.start()
        stack.wait_for_dags(["retrain_churn"])
        yield stack
    finally:
        stack.stop()
        postgres_databases(airflow_db, drop=True)


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / name)
    return path


def _log_in(page, stack: NativeStack) -> None:
    page.goto(f"{stack.api_url}/")
    page.wait_for_url("**/auth/login**")
    page.locator("input[name=username]").fill(ADMIN)
    page.locator("input[name=password]").fill(stack.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_operator_goes_from_the_dag_to_the_mlflow_run_and_the_gx_result(
    ui_stack: NativeStack, chromium: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    (SCREENSHOTS / "failure.png").unlink(missing_ok=True)
    run_id = ui_stack.trigger("retrain_churn", TRAINED_AT)
    run = ui_stack.wait_for_run("retrain_churn", run_id, timeout_s=240)
    assert run["state"] == "success", ui_stack.task_states("retrain_churn", run_id)
    xcom = f"/dags/retrain_churn/dagRuns/{run_id}/taskInstances/train/xcomEntries/return_value"
    trained = ui_stack.api("GET", xcom)["value"]
    run_page = f"/dags/retrain_churn/runs/{run_id}"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            _log_in(page, ui_stack)

            page.goto(f"{ui_stack.api_url}/dags")
            page.get_by_role("link", name="retrain_churn", exact=True).first.click()
            page.wait_for_url("**/dags/retrain_churn")
            page.get_by_role("link", name="Runs", exact=True).click()
            row = page.get_by_role("row").filter(has=page.locator(f'a[href="{run_page}"]'))
            expect(row).to_contain_text("Success", timeout=TIMEOUT_MS)
            _screenshot(page, tmp_path, "retrain_churn.png")

            row.locator(f'a[href="{run_page}"]').first.click()
            page.locator(f'a[href="{run_page}/tasks/train"]').first.click()
            page.wait_for_url("**/tasks/train")
            page.get_by_role("link", name="Details", exact=True).click()
            mlflow_link = page.get_by_role("link", name="MLflow run")
            expect(mlflow_link).to_have_attribute(
                "href",
                f"{MLFLOW_UI}/#/experiments/{trained['experiment_id']}/runs/{trained['run_id']}",
                timeout=TIMEOUT_MS,
            )
            _screenshot(page, tmp_path, "retrain_churn_train.png")

            # The GX result is served by the plugin behind the session the browser holds.
            page.goto(f"{ui_stack.api_url}{run_page}/tasks/validate/details")
            gx_link = page.get_by_role("link", name="GX result")
            gx_prefix = f"{ui_stack.api_url}/retraining-artifacts/churn/validation/"
            expect(gx_link).to_have_attribute("href", re.compile(re.escape(gx_prefix)), timeout=TIMEOUT_MS)
            gx_url = gx_link.get_attribute("href")
            gx_link.click()
            expect(page.locator("h1")).to_have_text("churn: validation passed", timeout=TIMEOUT_MS)
        except Exception:
            _screenshot(page, tmp_path, "failure.png")
            raise
        finally:
            browser.close()

    assert requests.get(gx_url, timeout=10).status_code == 401  # no session, no file
