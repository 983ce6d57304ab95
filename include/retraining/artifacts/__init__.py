"""Files under the artifact root, a local folder or an object-store URL: the store every artifact
is written and read through, its layout, the content-addressed training snapshots, atomic
writes, and the retention that prunes old snapshots and reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.artifacts.layout import (
        ARTIFACTS_URL_PREFIX,
        Root,
        artifact_href,
        model_dir,
        monitoring_dir,
        reference_dir,
        snapshot_dir,
        validation_dir,
        validation_html,
        validation_results,
    )
    from include.retraining.artifacts.retention import SNAPSHOT_MIN_AGE, prune_reports, prune_snapshots
    from include.retraining.artifacts.snapshots import (
        Snapshot,
        content_hash,
        read_snapshot,
        write_parquet_atomic,
        write_snapshot,
        write_snapshot_batches,
    )
    from include.retraining.artifacts.store import (
        ArtifactPath,
        artifact_path,
        copy_in,
        is_local,
        local_copy,
        opened,
        relative_key,
        remove,
        under,
        write_bytes,
        write_text,
        write_with,
    )

__all__, __getattr__, __dir__ = face(__name__)
