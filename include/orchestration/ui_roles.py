"""The UI's users and roles under Airflow's FAB auth manager (apache-airflow-providers-fab).

Four roles, one user each, created or updated by `python -m include.orchestration.ui_roles` after
`airflow db migrate` (compose's airflow-init, the native stack):

- `Viewer` (FAB's own, plus reading the plugin list: the UI shows a plugin's page, Browse >
  Models, only to users who may): reads DAGs, runs, logs and the Models page; cannot trigger,
  approve or roll back;
- `Operator`: a viewer who may trigger runs (a rollback is a run of `rollback_<model>`), clear
  and mark tasks; cannot answer an approval;
- `Approver`: a viewer who may answer the `approve` task (Approve or Reject, Required Actions);
  cannot trigger or roll back;
- `Admin` (FAB's own): everything.

Airflow checks a DAG's sub-entity write (a run, an approval) as "edit the DAG" plus the entity's
own permission, so both project roles hold `can_edit` on DAGs: that adds pausing a DAG, nothing
more. Each user's name and password come from `AIRFLOW_<ROLE>_USERNAME` (default: the role's name
in lower case) and `AIRFLOW_<ROLE>_PASSWORD`; a role without a password gets no user, except Admin,
which is required. Run again, it sets the roles' permissions and the users' passwords and roles to
what the environment says, so a rotated password takes effect at the next start. Imports Airflow's
FAB provider only when run: every Airflow component loads this package.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ADMIN, VIEWER, OPERATOR, APPROVER = "Admin", "Viewer", "Operator", "Approver"
ROLES = (ADMIN, VIEWER, OPERATOR, APPROVER)
# The UI lists plugin pages (`/api/v2/plugins`) only to users who may read plugins; FAB's Viewer may not.
MODELS_PAGE = (("can_read", "Plugins"),)
# What each role but Admin holds beyond FAB's Viewer permissions, as (action, resource).
EXTRA_PERMISSIONS: dict[str, tuple[tuple[str, str], ...]] = {
    VIEWER: MODELS_PAGE,
    OPERATOR: (
        *MODELS_PAGE,
        ("can_edit", "DAGs"),
        ("can_create", "DAG Runs"),
        ("can_edit", "DAG Runs"),
        ("can_create", "Task Instances"),
        ("can_edit", "Task Instances"),
    ),
    APPROVER: (
        *MODELS_PAGE,
        ("can_edit", "DAGs"),
        ("can_edit", "HITL Detail"),
        ("can_access_menu", "HITL Detail"),
    ),
}


@dataclass(frozen=True)
class UiUser:
    username: str
    password: str
    role: str


def users_from_env(env: Mapping[str, str]) -> list[UiUser]:
    """One user per role whose `AIRFLOW_<ROLE>_PASSWORD` is set; the admin's is required."""
    users = []
    for role in ROLES:
        prefix = f"AIRFLOW_{role.upper()}"
        password = env.get(f"{prefix}_PASSWORD", "")
        if not password:
            if role == ADMIN:
                raise SystemExit(f"{prefix}_PASSWORD is not set: the Airflow UI needs an admin (see .env.example)")
            continue
        users.append(UiUser(env.get(f"{prefix}_USERNAME") or role.lower(), password, role))
    names = [user.username for user in users]
    if len(set(names)) != len(names):
        raise SystemExit(f"one user name for two roles in AIRFLOW_<ROLE>_USERNAME: {names}; give each role its own")
    return users


def _sync_role(security: Any, name: str) -> None:
    """The role `name` with exactly FAB's Viewer permissions plus its extras."""
    wanted = {*security.VIEWER_PERMISSIONS, *EXTRA_PERMISSIONS[name]}
    role = security.add_role(name)
    held = {(p.action.name, p.resource.name): p for p in role.permissions}
    for action, resource in wanted - held.keys():
        permission = security.create_permission(action, resource)
        security.add_permission_to_role(role, permission)
    for key in held.keys() - wanted:
        security.remove_permission_from_role(role, held[key])


def _sync_user(security: Any, user: UiUser) -> str:
    role = security.find_role(user.role)
    existing = security.find_user(username=user.username)
    if existing is None:
        email = f"{user.username}@localhost"
        if not security.add_user(user.username, user.username, user.role, email, role, user.password):
            raise SystemExit(f"could not create the Airflow UI user {user.username!r} (role {user.role}); see the log")
        return "created"
    existing.roles = [role]
    security.update_user(existing)
    security.reset_password(existing.id, user.password)
    return "updated"


def sync(users: list[UiUser]) -> None:
    """Create or update the project roles and the users, in Airflow's metadata database."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        security.sync_roles()  # FAB's own roles (Admin, Viewer, ...) exist before users refer to them
        for name in EXTRA_PERMISSIONS:
            _sync_role(security, name)
        for user in users:
            print(f"Airflow UI user {user.username} ({user.role}): {_sync_user(security, user)}")


def main() -> None:
    sync(users_from_env(os.environ))


if __name__ == "__main__":
    sys.exit(main())
