"""The thin Airflow-facing layer: connections, run identity, alert delivery, assets.

`include.retraining` never imports Airflow; this package is where the two meet, so DAG files
stay wiring only. Airflow imports here are cheap SDK ones; nothing heavy at import time, except
`worker_preload`, which exists to load the heavy libraries once per worker and only workers import.
"""
