"""REST serving of a registered model behind an alias (`models:/<model>@champion`).

A process of its own (`python -m serving`, `make serve`, the compose service `serve`), never
imported by Airflow. MLflow's scoring protocol (`/invocations`, `/ping`, `/health`, `/version`)
and its input formats (`serving/app.py`, `serving/requests.py`), behind a token and limits
(`serving/limits.py`), every value checked as batch scoring checks it; the alias is followed by
`serving/follower.py`, which swaps a new version in without failing a request.
"""
