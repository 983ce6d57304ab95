"""The steps of `score_<model>` (plan, score) and batch scoring's pure part: which interval a run
scores, what is wrong with a window's input, and the scores of a frame, which the REST server
must agree with row for row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.score.canary import canary_rows, id_share
    from include.retraining.score.contracts import (
        Alias,
        AliasScored,
        NoChampion,
        ScoringPlan,
        ScoringResult,
        ShadowOutcome,
    )
    from include.retraining.score.scoring import (
        BadInputError,
        InputReport,
        ScoringInputError,
        feature_kinds,
        score_frame,
        score_with_report,
        scoring_interval,
    )
    from include.retraining.score.steps import (
        plan,
        score,
        scoring_source,
        scoring_stopped_alert,
        shadow_unusable_alert,
    )
    from include.retraining.score.values import (
        BadColumn,
        BadValues,
        NonFinite,
        Problem,
        find_bad_values,
        numbers_from_text,
    )

__all__, __getattr__, __dir__ = face(__name__)
