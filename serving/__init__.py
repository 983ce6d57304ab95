"""REST serving of a registered model behind an alias (`models:/<model>@champion`).

A process of its own (`python -m serving`, `make serve`, the compose service `serve`), never
imported by Airflow. MLflow's scoring protocol (`/invocations`, `/ping`, `/health`, `/version`)
through MLflow's own request parsing and response format (`serving/app.py`); the alias is
followed by `serving/follower.py`, which swaps a new version in without failing a request.
"""
