"""The SQL databases the pipeline talks to: `Warehouse`, a model's source (windows read whole,
streamed, sampled or aggregated by the database), and `Database`, any SQL database it connects
to (the one place an engine is opened), and the labels of served predictions where they arrive
(named locks in those databases: `include.retraining.locking`).
The warehouse's types are made plain for every backend, and SQL it refuses becomes a
`WarehouseError` that names the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.warehouse.database import WRITE_TIMEOUT_S, Database
    from include.retraining.warehouse.labels import (
        LABEL,
        check_label_table,
        label_columns,
        label_values,
        read_labels,
    )
    from include.retraining.warehouse.reads import SourceTimestamps
    from include.retraining.warehouse.source import SampledWindow, Warehouse, WindowAggregates
    from include.retraining.warehouse.sql import (
        HASH_SPACE,
        cast_float,
        cast_text,
        hash_below,
        python_hash,
        quote_name,
        same_hash,
        sample_threshold,
        window_query,
    )
    from include.retraining.warehouse.types import (
        WarehouseError,
        aware_utc,
        id_text,
        naive_utc,
        plain_arrow,
        plain_frame,
        sqlite_state,
        sqlstate,
    )

__all__, __getattr__, __dir__ = face(__name__)
