"""The Airflow UI as the operator's console, in a real browser: the native stack (api-server,
scheduler, dag-processor, triggerer, LocalExecutor) on a Postgres metadata database the test
creates and drops, with FAB's auth manager and the project's roles (include/orchestration/ui_roles.py);
a retrain triggered through the REST API, then Chromium, driven by Playwright, logs in on FAB's
login form, opens the DAG and its finished run, and finds the plugin's links on the task instances.
A viewer, an operator and an approver each log in and may do what their role says, no more.

Screenshots go to the test's tmp folder and to test-output/ui/ (git-ignored)."""

from __future__ import annotations

import copy
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
import yaml
from mlflow.tracking import MlflowClient

from demo.churn_data import STABLE, TABLE, generate_snapshots, load_window
from include.orchestration.ui_roles import APPROVER, OPERATOR, VIEWER
from include.retraining.promotion import APPROVE
from include.retraining.warehouse import Database
from tests.support import PG_ADMIN_URL, REPO, postgres_databases, quiet_model_file, registry, service_unavailable
from tools.native_stack import ADMIN, FAB_AUTH, NativeStack, wait_until

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
# One user per role (FAB's Viewer, the project's Operator and Approver), beside the admin.
USERS = {"vera": VIEWER, "otto": OPERATOR, "ada": APPROVER}
VIEWER_USER, OPERATOR_USER, APPROVER_USER = USERS
# A second model, churn's copy whose gate asks a person: its first retrain waits in `approve`.
APPROVED = "churn_approved"


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
    models = _models_folder(home / "models")
    for week in range(10):
        begin = START + timedelta(weeks=week)
        frame = generate_snapshots(900, begin, begin + timedelta(weeks=1), seed=11, world=STABLE)
        load_window(warehouse, TABLE, frame, begin, begin + timedelta(weeks=1))
    stack = NativeStack(
        home=home,
        metadata_url=sa.engine.make_url(PG_ADMIN_URL).set(database=airflow_db).render_as_string(hide_password=False),
        executor="LocalExecutor",
        extra_env={
            "RETRAINING_TASK_RETRIES": "0",
            "RETRAINING_MLFLOW_UI_URL": MLFLOW_UI,
            "RETRAINING_MODELS_DIR": str(models),
        },
        auth_manager=FAB_AUTH,
        extra_users=USERS,
    )
    try:
        stack.start()
        stack.wait_for_dags(["retrain_churn", "rollback_churn", f"retrain_{APPROVED}"])
        yield stack
    finally:
        stack.stop()
        postgres_databases(airflow_db, drop=True)


def _models_folder(folder: Path) -> Path:
    """The shipped churn.yaml, and its copy `churn_approved` whose gate requires an approval and
    passes any valid first model (no scoring: fewer DAGs to parse); neither cron fires (QUIET_CRON)."""
    folder.mkdir()
    shipped = quiet_model_file(yaml.safe_load((REPO / "include" / "models" / "churn.yaml").read_text()))
    (folder / "churn.yaml").write_text(yaml.safe_dump(shipped))
    approved = copy.deepcopy(shipped)
    approved["name"] = APPROVED
    approved["gate"].update({"approval": "required", "min_improvement": -1.0, "threshold": 0.5})
    del approved["scoring"]
    (folder / f"{APPROVED}.yaml").write_text(yaml.safe_dump(approved))
    return folder


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / name)
    return path


@pytest.fixture(scope="module")
def retrained(ui_stack: NativeStack) -> tuple[str, dict]:
    """One retrain of churn (v1, the first champion): its run id and the train task's XCom."""
    run_id = ui_stack.trigger("retrain_churn", TRAINED_AT)
    run = ui_stack.wait_for_run("retrain_churn", run_id, timeout_s=240)
    assert run["state"] == "success", ui_stack.task_states("retrain_churn", run_id)
    xcom = f"/dags/retrain_churn/dagRuns/{run_id}/taskInstances/train/xcomEntries/return_value"
    return run_id, ui_stack.api("GET", xcom)["value"]


def _log_in(page, stack: NativeStack, user: str = ADMIN) -> None:
    page.goto(f"{stack.api_url}/")
    page.wait_for_url("**/auth/login**")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(stack.password_of(user))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_operator_goes_from_the_dag_to_the_mlflow_run_and_the_gx_result(
    ui_stack: NativeStack, retrained: tuple[str, dict], chromium: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    (SCREENSHOTS / "failure.png").unlink(missing_ok=True)
    run_id, trained = retrained
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


def _stack_settings(stack: NativeStack):
    from include.retraining.common import load_settings

    return load_settings({"RETRAINING_DATA_DIR": str(stack.home / "data"), "RETRAINING_MLFLOW_UI_URL": MLFLOW_UI})


def _second_champion_and_monitoring(
    stack: NativeStack, monkeypatch: pytest.MonkeyPatch
) -> tuple[Database, MlflowClient]:
    """Version 2 (v1's model registered again) promoted through the log and the registry adapter,
    and three weeks of model_monitoring, as the retrain and monitor DAGs would leave them."""
    from include.retraining.tables import PromotionAction, PromotionRecord, append_once, replace_monitoring_row

    settings = _stack_settings(stack)
    db = Database(settings.pipeline_default_url)
    # MLflow resolves a logged model's location through the global tracking URI.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    first = client.get_model_version("churn", "1")
    second = client.create_model_version("churn", first.source, first.run_id)
    record = PromotionRecord("churn", str(second.version), PromotionAction.PROMOTE, "ui test: a second champion", "1")
    append_once(db, record)
    registry("churn", settings).promote(str(second.version), {"retraining.decision": "promote"})
    for week, value in enumerate(METRIC_WEEKS):
        end = (TRAINED_AT + timedelta(weeks=week)).replace(tzinfo=None)
        replace_monitoring_row(db, _monitoring_row(end, value, week))
    return db, client


METRIC_WEEKS = [0.812, 0.806, 0.771]


def _monitoring_row(end: datetime, value: float, week: int) -> dict:
    return {
        "model": "churn", "window_start": end - timedelta(days=7), "window_end": end,
        "airflow_run_id": f"monitor_{week}", "champion_version": "1", "rows_current": 900, "rows_matured": 900,
        "drift_share": 0.0, "drifted_columns": "", "prediction_psi": 0.01, "metric": "roc_auc",
        "metric_holdout": 0.82, "metric_current": value, "performance_drop": 0.82 - value,
        "drift_detected": week == 2, "decision": "retrain" if week == 2 else "no_drift",
        "reasons": "performance drop" if week == 2 else "", "report_path": "",
    }  # fmt: skip


def _models_frame(page, stack: NativeStack):
    """The Models page inside the Airflow UI (Browse > Models), as the navigation opens it."""
    page.goto(f"{stack.api_url}/plugin/models")
    return page.frame_locator("iframe").first


def test_models_page_shows_registry_and_log_and_rolls_back_for_operators_only(
    ui_stack: NativeStack,
    retrained: tuple[str, dict],
    chromium: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from include.retraining.tables import latest

    warehouse, client = _second_champion_and_monitoring(ui_stack, monkeypatch)
    since = latest(warehouse, "churn")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
        try:
            viewer = browser.new_context(viewport={"width": 1400, "height": 800}).new_page()
            viewer.set_default_timeout(TIMEOUT_MS)
            _log_in(viewer, ui_stack, VIEWER_USER)
            row = _models_frame(viewer, ui_stack).locator('tr[data-model="churn"]')
            expect(row.locator(".champion")).to_have_text("v2", timeout=TIMEOUT_MS)
            expect(row).to_contain_text("read only")
            assert row.locator("form").count() == 0
            _screenshot(viewer, tmp_path, "models_viewer.png")

            operator = browser.new_context(viewport={"width": 1400, "height": 800}).new_page()
            operator.set_default_timeout(TIMEOUT_MS)
            _log_in(operator, ui_stack, OPERATOR_USER)
            row = _models_frame(operator, ui_stack).locator('tr[data-model="churn"]')
            expect(row.locator(".champion")).to_have_text("v2", timeout=TIMEOUT_MS)
            expect(row.locator(".since")).to_contain_text(f"since {since.at:%Y-%m-%d %H:%M} UTC (promote by scheduler)")
            expect(row).to_contain_text("previous champion v1")
            expect(row.locator(".drift")).to_contain_text("drift: retrain")
            expect(row.locator("svg.chart circle")).to_have_count(len(METRIC_WEEKS))
            expect(row).to_contain_text(f"latest {METRIC_WEEKS[-1]:.4f}")
            expect(row.get_by_role("link", name="MLflow model")).to_have_attribute(
                "href", f"{MLFLOW_UI}/#/models/churn"
            )
            gx = row.get_by_role("link", name="GX result")
            expect(gx).to_have_attribute(
                "href", re.compile(re.escape(f"{ui_stack.api_url}/retraining-artifacts/churn/"))
            )
            _screenshot(operator, tmp_path, "models_operator.png")

            row.locator("input[name=reason]").fill("ui test: v2 misbehaves")
            row.get_by_role("button", name="Roll back").click()
            triggered = row.locator(".result a")
            expect(triggered).to_contain_text("Rollback triggered: ", timeout=TIMEOUT_MS)
            run_id = triggered.inner_text().split(": ", 1)[1]
            run = ui_stack.wait_for_run("rollback_churn", run_id, timeout_s=180)
            assert run["state"] == "success", ui_stack.task_states("rollback_churn", run_id)

            row = _models_frame(operator, ui_stack).locator('tr[data-model="churn"]')
            expect(row.locator(".champion")).to_have_text("v1", timeout=TIMEOUT_MS)
            expect(row.locator(".since")).to_contain_text(f"(rollback by {OPERATOR_USER})")
            expect(row.locator(".history")).to_contain_text(f"rollback v2 → v1 by {OPERATOR_USER}")
            _screenshot(operator, tmp_path, "models_rolled_back.png")
        except Exception:
            _screenshot(operator if "operator" in locals() else viewer, tmp_path, "failure.png")
            raise
        finally:
            browser.close()

    assert run["conf"] == {"reason": "ui test: v2 misbehaves"}
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    rolled = latest(warehouse, "churn")
    assert (rolled.action.value, rolled.from_version, rolled.to_version, rolled.actor) == (
        "rollback",
        "2",
        "1",
        OPERATOR_USER,
    )
    for user in (VIEWER_USER, APPROVER_USER):
        refused = requests.post(
            f"{ui_stack.api_url}/api/v2/dags/rollback_churn/dagRuns",
            json={"logical_date": None, "conf": {"reason": f"{user} tries"}},
            headers={"Authorization": f"Bearer {ui_stack.token(user)}"},
            timeout=10,
        )
        assert refused.status_code == 403, (user, refused.text)
    # The same rows as Prometheus metrics, for an Airflow user's token (a scraper uses its own).
    scraped = requests.get(
        f"{ui_stack.api_url}/retraining-models/metrics",
        headers={"Authorization": f"Bearer {ui_stack.token(VIEWER_USER)}"},
        timeout=60,
    )
    assert scraped.status_code == 200, scraped.text
    assert 'retraining_champion_version{model="churn"} 1\n' in scraped.text
    assert 'retraining_promotion_log_rows_total{model="churn",action="rollback"} 1\n' in scraped.text
    assert requests.get(f"{ui_stack.api_url}/retraining-models/metrics", timeout=30).status_code == 401


def _approve_task_waiting(stack: NativeStack, run_id: str) -> None:
    def waiting() -> bool:
        states = stack.task_states(f"retrain_{APPROVED}", run_id)
        assert states.get("approve") not in ("success", "failed", "skipped", "upstream_failed"), states
        return states.get("approve") == "awaiting_input"

    wait_until(waiting, 300, f"retrain_{APPROVED}'s approve task to wait for input", interval_s=2)


def _answer(stack: NativeStack, run_id: str, user: str, option: str) -> requests.Response:
    """The REST call the Required Actions page makes, with `user`'s token."""
    return requests.patch(
        f"{stack.api_url}/api/v2/dags/retrain_{APPROVED}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
        json={"chosen_options": [option]},
        headers={"Authorization": f"Bearer {stack.token(user)}"},
        timeout=30,
    )


def test_only_an_approver_answers_the_approval_and_the_approval_promotes(
    ui_stack: NativeStack, chromium: str, tmp_path: Path
) -> None:
    """The first retrain of churn_approved, triggered by the admin, parks in `approve`. Alone: two
    retrains side by side on a loaded 2-core machine outlast the runs' waits."""
    from playwright.sync_api import expect, sync_playwright

    approval_run = ui_stack.trigger(f"retrain_{APPROVED}", TRAINED_AT)
    _approve_task_waiting(ui_stack, approval_run)
    for user in (VIEWER_USER, OPERATOR_USER):
        refused = _answer(ui_stack, approval_run, user, APPROVE)
        assert refused.status_code == 403, (user, refused.text)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            _log_in(page, ui_stack, APPROVER_USER)
            page.goto(f"{ui_stack.api_url}/dags/retrain_{APPROVED}/runs/{approval_run}/tasks/approve/required_actions")
            subject = page.get_by_text(f"Promote the new {APPROVED} model to champion?")
            expect(subject).to_be_visible(timeout=TIMEOUT_MS)
            _screenshot(page, tmp_path, "approval_approver.png")
            page.get_by_role("button", name=APPROVE, exact=True).click()
            run = ui_stack.wait_for_run(f"retrain_{APPROVED}", approval_run, timeout_s=240)
        except Exception:
            _screenshot(page, tmp_path, "failure.png")
            raise
        finally:
            browser.close()

    assert run["state"] == "success", ui_stack.task_states(f"retrain_{APPROVED}", approval_run)
    xcoms = f"/dags/retrain_{APPROVED}/dagRuns/{approval_run}/taskInstances"
    answer = ui_stack.api("GET", f"{xcoms}/approve/xcomEntries/return_value")["value"]
    assert (answer["decision"], answer["by"]) == ("approved", APPROVER_USER)
    trained = ui_stack.api("GET", f"{xcoms}/train/xcomEntries/return_value")["value"]
    settings = _stack_settings(ui_stack)
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    assert client.get_model_version_by_alias(APPROVED, "champion").run_id == trained["run_id"]


def test_the_roles_script_run_again_sets_a_rotated_password(ui_stack: NativeStack) -> None:
    """As compose's airflow-init on every `docker compose up`: the user keeps their role, the old
    password stops working."""
    old = ui_stack.password_of(VIEWER_USER)
    ui_stack.extra_passwords[VIEWER_USER] = f"rotated-{old}"

    ui_stack.sync_ui_users()

    login = f"{ui_stack.api_url}/auth/token"
    refused = requests.post(login, json={"username": VIEWER_USER, "password": old}, timeout=60)
    assert refused.status_code == 401, refused.text
    token = ui_stack.token(VIEWER_USER)
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{ui_stack.api_url}/api/v2/dags/retrain_churn", headers=headers, timeout=30).ok
    triggered = requests.post(
        f"{ui_stack.api_url}/api/v2/dags/rollback_churn/dagRuns",
        json={"logical_date": None},
        headers=headers,
        timeout=30,
    )
    assert triggered.status_code == 403, triggered.text
