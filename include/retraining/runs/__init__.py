"""Who runs a step (`RunInfo`) and everything it reads besides its inputs (`StepContext`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.runs.context import RunInfo, StepContext

__all__, __getattr__, __dir__ = face(__name__)
