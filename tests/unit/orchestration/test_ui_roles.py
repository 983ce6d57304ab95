"""The UI's users under FAB (include/orchestration/ui_roles.py): who the environment asks for.
Creating them in Airflow's database is exercised by tests/integration/test_ui.py."""

from __future__ import annotations

import pytest

from include.orchestration.ui_roles import ADMIN, APPROVER, EXTRA_PERMISSIONS, OPERATOR, VIEWER, UiUser, users_from_env

pytestmark = pytest.mark.unit


def test_one_user_per_role_with_a_password_named_by_the_role_unless_told() -> None:
    env = {
        "AIRFLOW_ADMIN_USERNAME": "root",
        "AIRFLOW_ADMIN_PASSWORD": "a-secret",
        "AIRFLOW_OPERATOR_PASSWORD": "o-secret",
        "AIRFLOW_APPROVER_USERNAME": "",
        "AIRFLOW_APPROVER_PASSWORD": "p-secret",
    }

    users = users_from_env(env)

    assert users == [
        UiUser("root", "a-secret", ADMIN),
        UiUser("operator", "o-secret", OPERATOR),
        UiUser("approver", "p-secret", APPROVER),
    ]


def test_no_admin_password_is_refused_with_the_variable_to_set() -> None:
    with pytest.raises(SystemExit, match="AIRFLOW_ADMIN_PASSWORD is not set"):
        users_from_env({"AIRFLOW_VIEWER_PASSWORD": "v-secret"})


def test_one_name_for_two_roles_is_refused() -> None:
    env = {"AIRFLOW_ADMIN_PASSWORD": "a", "AIRFLOW_VIEWER_USERNAME": "admin", "AIRFLOW_VIEWER_PASSWORD": "v"}

    with pytest.raises(SystemExit, match="one user name for two roles"):
        users_from_env(env)


def test_only_the_approver_may_answer_an_approval_and_only_the_operator_trigger() -> None:
    granted = {role: set(perms) for role, perms in EXTRA_PERMISSIONS.items()}

    assert ("can_edit", "HITL Detail") in granted[APPROVER] - granted[OPERATOR]
    assert ("can_create", "DAG Runs") in granted[OPERATOR] - granted[APPROVER]
    assert granted[VIEWER] <= granted[OPERATOR] & granted[APPROVER]
    assert ("can_read", "Plugins") in granted[VIEWER]  # else the UI hides the Models page
