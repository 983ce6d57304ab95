"""Slack delivery through the provider's hook, against a loopback HTTP server standing in for Slack."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from include.orchestration import alerting
from include.retraining.alerts import Alert, DeliveryUnknown, NotDelivered, read_alerts
from include.retraining.common import load_settings

pytestmark = pytest.mark.unit


class Slack:
    """Answers each post with the next status in `answers` (200 once they run out); "hang" never answers."""

    def __init__(self) -> None:
        self.answers: list[int | str] = []
        self.received: list[str] = []
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                slack.received.append(json.loads(body)["text"])
                answer = slack.answers.pop(0) if slack.answers else 200
                if answer == "hang":
                    time.sleep(2)  # the test sets a 1 s client timeout
                    return
                self.send_response(int(answer))
                self.end_headers()
                self.wfile.write(b"ok" if answer == 200 else b"server_error")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T000/B000/XXXX"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Slack]:
    fake = Slack()
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_TEST", json.dumps({"conn_type": "slackwebhook", "password": fake.url}))
    monkeypatch.setenv("RETRAINING_DATA_DIR", str(tmp_path))  # the outbox in tmp_path/pipeline.db
    monkeypatch.setattr("include.retraining.alerts.outbox.time.sleep", lambda s: None)
    yield fake
    fake.server.shutdown()


def _alert(key: str = "retrain_churn/r1/validate") -> Alert:
    return Alert("validation_failed", "churn", "churn: data validation failed", ["<!channel> x"], dedup_key=key)


def test_a_post_goes_out_escaped(slack: Slack) -> None:
    assert alerting.send_to_slack(_alert(), "slack_test") == "slack"
    assert slack.received == ["*churn: data validation failed*\n&lt;!channel&gt; x"]


def test_an_error_answer_or_a_refused_connection_is_not_delivered(slack: Slack, monkeypatch) -> None:
    slack.answers = [500]
    with pytest.raises(NotDelivered, match="500"):
        alerting.send_to_slack(_alert(), "slack_test")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T/B/X"
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_DOWN", json.dumps({"conn_type": "slackwebhook", "password": url}))
    with pytest.raises(NotDelivered, match="not reached"):
        alerting.send_to_slack(_alert(), "slack_down")
    assert len(slack.received) == 1, "the client itself does not retry"


def test_no_answer_after_sending_is_an_unknown_outcome(slack: Slack, monkeypatch) -> None:
    monkeypatch.setattr(alerting, "SLACK_TIMEOUT_SECONDS", 1)
    slack.answers = ["hang"]
    with pytest.raises(DeliveryUnknown):
        alerting.send_to_slack(_alert(), "slack_test")


def test_slack_500s_keep_the_alert_pending_and_never_raise(slack: Slack) -> None:
    slack.answers = [500, 500, 500]

    status = alerting.deliver_alert(_alert(), "slack_test", load_settings())

    (entry,) = read_alerts(alerting.alert_outbox())
    assert status == "pending" and entry["attempts"] == 3 and len(slack.received) == 3


def test_without_a_connection_the_outbox_is_the_destination(slack: Slack) -> None:
    status = alerting.deliver_alert(_alert(), "no_such_connection", load_settings())

    (entry,) = read_alerts(alerting.alert_outbox())
    assert status == "delivered" and entry["delivered_to"] == "file" and slack.received == []


def test_an_unwritable_outbox_still_posts_and_never_raises(slack: Slack, monkeypatch, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the pipeline database's folder should be")
    monkeypatch.setenv("AIRFLOW_CONN_RETRAINING_DB", f"sqlite:///{blocked / 'pipeline.db'}")

    status = alerting.deliver_alert(_alert(), "slack_test", load_settings())

    assert status == "delivered" and len(slack.received) == 1


def test_a_failure_alert_names_model_dag_task_error_and_log(slack: Slack) -> None:
    ti = SimpleNamespace(dag_id="retrain_churn", run_id="manual__1", task_id="extract", try_number=3)
    context = {"ti": ti, "exception": OSError("connection reset")}

    alerting.FailureAlert("churn", "slack_test").notify(context)
    alerting.FailureAlert("churn", "slack_test").notify(context)

    (text,) = slack.received
    assert "churn" in text and "retrain_churn" in text and "`extract`" in text
    assert "OSError: connection reset" in text and "/dags/retrain_churn/runs/manual__1/tasks/extract" in text


def test_a_failure_alert_withholds_the_cell_value_a_library_error_quotes(slack: Slack) -> None:
    """A text timestamp pandas could not parse: the alert names the error, Slack never sees the value."""
    import pandas as pd

    ti = SimpleNamespace(dag_id="retrain_churn", run_id="manual__2", task_id="extract", try_number=1)
    try:
        pd.to_datetime(pd.Series(["2026-03-02", "acct 4417-1234 closed"]))
    except ValueError as exc:
        context = {"ti": ti, "exception": exc}

    alerting.FailureAlert("churn", "slack_test").notify(context)

    (text,) = slack.received
    assert "ValueError: " in text and "4417-1234" not in text and "the task log has the full error" in text


def test_a_gate_that_alerted_is_not_alerted_again_as_a_failure(slack: Slack) -> None:
    alerting.deliver_alert(_alert("retrain_churn/manual__1/validate"), "slack_test", load_settings())
    ti = SimpleNamespace(dag_id="retrain_churn", run_id="manual__1", task_id="validate", try_number=1)
    context = {"ti": ti, "exception": ValueError("suite failed")}

    alerting.FailureAlert("churn", "slack_test").notify(context)

    assert len(slack.received) == 1


def test_the_next_successful_task_posts_what_slack_refused(slack: Slack, monkeypatch) -> None:
    slack.answers = [500, 500, 500]
    alerting.deliver_alert(_alert(), "slack_test", load_settings())
    alerting.flush_alerts()
    assert len(slack.received) == 3, "not due again before its backoff"
    later = datetime.now(UTC) + timedelta(minutes=5)
    monkeypatch.setattr("include.retraining.alerts.outbox.utcnow", lambda: later)

    alerting.flush_alerts()

    (entry,) = read_alerts(alerting.alert_outbox())
    assert entry["status"] == "delivered" and entry["attempts"] == 4 and len(slack.received) == 4
