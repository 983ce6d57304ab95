#!/usr/bin/env bash
# Creates one role and one database per consumer (Airflow metadata, MLflow tracking, the warehouse,
# the pipeline's own tables) on the shared Postgres server, and REST serving's login role, which
# may connect to the pipeline's database and, once a score run grants it, append to a predictions
# table: nothing else. The postgres image runs this once, when its data volume is empty;
# after changing a name or password here or in .env, recreate the volume (`docker compose down -v`).
set -euo pipefail

create_database() {
    local user="$1" password="$2" database="$3"
    # psql variables (:"name" / :'value') quote identifiers and literals, so any password is safe.
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v user="$user" -v password="$password" -v database="$database" <<'SQL'
CREATE ROLE :"user" WITH LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"user";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
    echo "created database ${database} owned by ${user}"
}

create_database "${AIRFLOW_DB_USER:?}" "${AIRFLOW_DB_PASSWORD:?}" "${AIRFLOW_DB_NAME:?}"
create_database "${MLFLOW_DB_USER:?}" "${MLFLOW_DB_PASSWORD:?}" "${MLFLOW_DB_NAME:?}"
create_database "${WAREHOUSE_DB_USER:?}" "${WAREHOUSE_DB_PASSWORD:?}" "${WAREHOUSE_DB_NAME:?}"
create_database "${PIPELINE_DB_USER:?}" "${PIPELINE_DB_PASSWORD:?}" "${PIPELINE_DB_NAME:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v user="${SERVING_DB_USER:?}" -v password="${SERVING_DB_PASSWORD:?}" -v database="${PIPELINE_DB_NAME:?}" <<'SQL'
CREATE ROLE :"user" WITH LOGIN PASSWORD :'password';
GRANT CONNECT ON DATABASE :"database" TO :"user";
SQL
echo "created role ${SERVING_DB_USER} (REST serving's inference log)"
