"""Authentication and permissions for the project's UI plugins, through Airflow's own.

Airflow mounts plugin FastAPI apps with `app.mount()`, which inherits none of the core API's
authentication, so each plugin endpoint asks Airflow itself: `get_user` reads the UI's session
cookie or a bearer token (401/403 otherwise), and the auth manager says what the user may do.
Imports Airflow and FastAPI only: every Airflow component loads the plugins.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False)


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Any:
    """Airflow's own authentication: a bearer token, else the UI's session cookie."""
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, credentials)


def may(user: Any, dag_id: str, method: str, entity: str) -> bool:
    """Whether the user may `method` (GET, POST, ...) the DAG's `entity` (a DagAccessEntity name)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(
        method=method, access_entity=DagAccessEntity[entity], details=DagDetails(id=dag_id), user=user
    )


def user_name(user: Any) -> str:
    return str(user.get_name())
