"""Every environment variable is read in one place, with the embedded defaults."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.retraining.common import load_settings, mlflow_ui_base, without_userinfo

pytestmark = pytest.mark.unit


def test_defaults_are_the_embedded_setup(tmp_path) -> None:
    settings = load_settings({"RETRAINING_DATA_DIR": str(tmp_path)})

    assert settings.alerts_file == tmp_path / "alerts.jsonl"
    assert settings.airflow_base_url == "http://localhost:8080" and settings.serve_artifacts
    assert settings.task_retries == 2 and settings.task_timeout == timedelta(hours=2)
    assert settings.dagrun_timeout == timedelta(hours=12)
    assert settings.mlflow_ui_base == "http://localhost:5000"


def test_deployment_values_override_them() -> None:
    settings = load_settings(
        {
            "RETRAINING_TASK_RETRIES": "0",
            "RETRAINING_TASK_TIMEOUT_MINUTES": "15",
            "RETRAINING_DAGRUN_TIMEOUT_HOURS": "3",
            "RETRAINING_SERVE_ARTIFACTS": "off",
            "AIRFLOW__API__BASE_URL": "https://airflow.example/",
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
            "RETRAINING_MLFLOW_UI_URL": "https://mlflow.example/",
        }
    )

    assert (settings.task_retries, settings.task_timeout, settings.dagrun_timeout) == (
        0,
        timedelta(minutes=15),
        timedelta(hours=3),
    )
    assert not settings.serve_artifacts and settings.airflow_base_url == "https://airflow.example"
    assert settings.mlflow_ui_base == "https://mlflow.example"


def test_a_bad_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="RETRAINING_TASK_RETRIES='two'"):
        load_settings({"RETRAINING_TASK_RETRIES": "two"})


@pytest.mark.parametrize(
    ("tracking_uri", "ui_url", "expected"),
    [
        ("https://user:token@mlflow.example/", None, "https://mlflow.example"),
        ("sqlite:///x.db", None, "http://localhost:5000"),
        ("http://mlflow:5000", "https://admin:pw@ui.example", "https://ui.example"),
    ],
)
def test_mlflow_links_never_carry_credentials(tracking_uri: str, ui_url: str | None, expected: str) -> None:
    assert mlflow_ui_base(tracking_uri, ui_url) == expected


def test_without_userinfo_keeps_the_rest_of_the_url() -> None:
    assert without_userinfo("https://u:p@host:8443/a?b=1#c") == "https://host:8443/a?b=1#c"
    assert without_userinfo("http://host/x") == "http://host/x"


def test_the_thread_setting_defaults_to_one_per_task() -> None:
    assert load_settings({}).fit_threads == 1
    assert load_settings({"RETRAINING_FIT_THREADS": "4"}).fit_threads == 4
    with pytest.raises(ValueError, match="RETRAINING_FIT_THREADS=0"):
        load_settings({"RETRAINING_FIT_THREADS": "0"})
