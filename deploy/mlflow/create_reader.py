"""Create the read-only MLflow user that REST serving logs in with, or reset its password.

Run by the compose one-shot service `mlflow-reader` once the MLflow server is healthy, logged in
as the admin (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD). A user with no grant of its
own has basic_auth.ini's `default_permission = READ`: it reads every experiment and registered
model and writes none, so serving, the most exposed process, cannot move an alias or delete a
model. Idempotent: a second run sets the password from .env again and removes admin rights.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient


def ensure_reader(env: Mapping[str, str]) -> str:
    """Create or update the user SERVING_MLFLOW_USERNAME; what was done, in words."""
    name, password = env["SERVING_MLFLOW_USERNAME"], env["SERVING_MLFLOW_PASSWORD"]
    if name == env.get("MLFLOW_TRACKING_USERNAME"):
        raise SystemExit(f"SERVING_MLFLOW_USERNAME {name!r} is the admin's name: choose a user of its own")
    client = AuthServiceClient(env["MLFLOW_TRACKING_URI"])
    try:
        client.create_user(name, password)
        done = f"created MLflow user {name!r} (read-only)"
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        client.update_user_password(name, password)
        done = f"MLflow user {name!r} exists: password set from SERVING_MLFLOW_PASSWORD"
    if client.get_user(name).is_admin:
        client.update_user_admin(name, False)
        done += ", admin rights removed"
    return done


if __name__ == "__main__":
    print(ensure_reader(os.environ), file=sys.stderr)
