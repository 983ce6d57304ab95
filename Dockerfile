# One image for every Airflow service in docker-compose.yaml.
# The tag must equal the apache-airflow pin in requirements.txt (tests/unit/project/test_compose.py checks it).
FROM apache/airflow:3.3.2-python3.11

# The project's exact resolved runtime set is baked in at build time, never installed at container
# start; test and dev tools (requirements-dev.txt) never reach the image.
COPY --chown=airflow:0 requirements.txt requirements.lock /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt -c /opt/airflow/requirements.lock

# The optional model libraries (LightGBM, XGBoost: requirements-models.txt), only when asked for
# (`--build-arg WITH_MODEL_LIBRARIES=true`; compose reads it from .env), at their resolved versions.
ARG WITH_MODEL_LIBRARIES=false
COPY --chown=airflow:0 requirements-models.txt requirements-models.lock /opt/airflow/
RUN if [ "$WITH_MODEL_LIBRARIES" = "true" ]; then \
        pip install --no-cache-dir -r /opt/airflow/requirements-models.txt -c /opt/airflow/requirements-models.lock; \
    fi

# Mount points for the named volumes: a new volume copies the ownership of the directory it covers,
# so creating them here as the airflow user keeps them writable without a chown at startup.
RUN mkdir -p /opt/airflow/logs /opt/airflow/artifacts

# `import include.retraining` resolves from the Airflow home, as it does from the repository root.
ENV PYTHONPATH=/opt/airflow

COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
# The REST scoring process of the compose service `serve` (python -m serving); Airflow never imports it.
COPY --chown=airflow:0 serving/ /opt/airflow/serving/
# `python -m retraining check` where the connections are: `docker compose exec airflow-scheduler python -m retraining check`.
COPY --chown=airflow:0 retraining/ /opt/airflow/retraining/

# The commit the image was built from (`docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD)`,
# `make up` and CI pass it): the image has no .git, so training runs read it from here and tag
# their MLflow run with it (mlflow.source.git.commit). Last, so a new commit rebuilds one layer.
ARG GIT_COMMIT=""
ENV RETRAINING_GIT_COMMIT=${GIT_COMMIT}
LABEL org.opencontainers.image.revision=${GIT_COMMIT}
