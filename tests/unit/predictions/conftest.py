"""The predictions tables on the embedded default (SQLite) and on MariaDB: the same `db` fixture as
the pipeline's other tables."""

from tests.unit.tables.conftest import db  # noqa: F401
