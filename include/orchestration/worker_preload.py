"""The libraries a task imports, imported once by the worker that forks the tasks.

Airflow runs each task in a process forked from its worker (Celery's pool process, or a
LocalExecutor worker forked from a forkserver). A task that imports pandas, scikit-learn, MLflow,
Great Expectations and Evidently itself spends 5-15 s of a 2-core worker on imports before its
first row; forked from a worker that imported them already, it starts with them in memory, shared
copy-on-write. Wired by `celery_config.CELERY_CONFIG` (Celery's `imports`) and by
`[scheduler] mp_start_method = forkserver` with `mp_forkserver_preload` naming this module.

Third-party libraries only: the project's own modules are imported by each task, so a worker never
runs an older copy of the pipeline's code than the one its tasks parse. Unlike the rest of this
package, importing this module is expensive by design; nothing but a worker imports it.
"""

from __future__ import annotations

import importlib
import logging
import warnings

# The heavy imports of include.retraining's steps, in the order they are first needed.
LIBRARIES = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "upath",
    "sqlalchemy",
    "alembic.command",
    "sqlparse",
    "adbc_driver_manager",
    "adbc_driver_postgresql.dbapi",
    "scipy.stats",
    "scipy.special",
    "sklearn.compose",
    "sklearn.ensemble",
    "sklearn.isotonic",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "matplotlib.pyplot",
    "mlflow",
    "mlflow.data",
    "mlflow.models",
    "mlflow.sklearn",
    "skops.io",
    "great_expectations",
    "great_expectations.expectations",
    "evidently",
    "evidently.presets",
    "evidently.legacy.calculations.stattests.registry",
)


def preload() -> tuple[str, ...]:
    """Import every library of `LIBRARIES`; return the names imported.

    A missing library fails the worker's start, naming it: every task would fail on it anyway.
    """
    import matplotlib

    matplotlib.use("Agg")  # a worker has no display; as include.retraining.learning.plots sets it
    # Import-time chatter, none of it about our code: skops looks up scipy's function names in
    # every loaded module and Airflow's deprecated-module shims warn on each (1,160 warnings), and
    # Great Expectations logs ~200 "Skipping registering function" lines at INFO.
    logging.disable(logging.INFO)
    try:
        for name in LIBRARIES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
    finally:
        logging.disable(logging.NOTSET)
    return LIBRARIES


preload()
