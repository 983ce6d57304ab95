"""What every package shares: where things live (settings), time windows and moments, and the
fixed-seed row sample."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.common.sampling import sample_rows
    from include.retraining.common.settings import (
        REPO_ROOT,
        Settings,
        artifact_root,
        load_settings,
        mlflow_ui_base,
        without_userinfo,
    )
    from include.retraining.common.windows import (
        Window,
        as_nanoseconds,
        as_utc,
        recent_window,
        training_window,
        utc_timestamp,
    )

__all__, __getattr__, __dir__ = face(__name__)
