"""A champion's reference profile in the artifact store, cached by version.

First use of a version copies the profile its training run logged (`reference/` in MLflow) into
`<artifact root>/<model>/reference/v<version>/`; every later validate and monitor run reads that
folder. A champion trained before profiles existed has none: its profile is built once from its
training snapshot (the old path) and cached the same way. Only an explicit "not stored" answer
leads to that fallback; any other tracking error propagates (fail closed).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from include.retraining.artifacts import ArtifactPath, copy_in, reference_dir
from include.retraining.reference.profile import (
    ARTIFACT_DIR,
    PROFILE_FILE,
    SAMPLE_FILE,
    DataProfile,
    read_reference,
    write_reference,
)
from include.retraining.runs import StepContext


def champion_profile(ctx: StepContext, version: str, run_id: str) -> DataProfile | None:
    """The profile of a champion version's training data, or None when the run stored neither a
    profile nor a training snapshot."""
    folder = reference_dir(ctx.settings.artifact_root, ctx.config.name, version)
    cached = read_reference(folder)
    if cached is not None:
        return cached
    if _copy_logged(ctx.tracker, run_id, folder):
        return read_reference(folder)
    frame = ctx.tracker.training_frame(run_id)
    if frame is None:
        return None
    return write_reference(frame, ctx.config, folder)


def _copy_logged(tracker: Any, run_id: str, folder: ArtifactPath) -> bool:
    """Copy the run's logged profile into the store's folder, the sample first and the profile
    last (`read_reference` finds a folder complete or not at all); False when the run logged none."""
    with tempfile.TemporaryDirectory(prefix="retraining-reference-") as staging:
        downloaded = tracker.download_artifacts(run_id, ARTIFACT_DIR, dst_path=staging)
        if downloaded is None or not all((Path(downloaded) / name).is_file() for name in (PROFILE_FILE, SAMPLE_FILE)):
            return False
        for name in (SAMPLE_FILE, PROFILE_FILE):
            copy_in(Path(downloaded) / name, folder / name)
        return True
