"""Learning a model from a window and judging it: the estimator behind the feature preprocessor,
the out-of-time split, fitting and scoring, holdout metrics with the paired challenger-minus-
champion interval, the leakage guard (a challenger too good to be true), the Great Expectations
suite a window must pass, and the evaluation plots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.retraining import face

if TYPE_CHECKING:
    from include.retraining.learning.estimators import (
        SKOPS_TRUSTED_TYPES,
        build_estimator,
        feature_steps,
        import_class,
        trusted_types,
    )
    from include.retraining.learning.evaluation import (
        ImprovementInterval,
        check_holdout,
        compute_metrics,
        metric_value,
        paired_comparison,
        wape,
    )
    from include.retraining.learning.leakage import (
        LeakageSign,
        LeakageSuspect,
        feature_scores,
        leakage_reason,
        leakage_suspects,
    )
    from include.retraining.learning.multiclass import (
        class_names,
        class_probabilities,
        predicted_classes,
        unknown_labels,
        unknown_labels_note,
    )
    from include.retraining.learning.plots import evaluation_figure
    from include.retraining.learning.training import (
        MODEL_SCORING_ERRORS,
        Split,
        TrainingDataError,
        build_pipeline,
        check_split,
        check_trainable,
        fit,
        holdout_rows,
        model_features,
        predict_scores,
        split_by_time,
        synthetic_example,
    )
    from include.retraining.learning.validation import (
        DataValidationError,
        FailedExpectation,
        ReferenceProfile,
        ValidationReport,
        learned_profile,
        validate_frame,
        validate_or_raise,
    )
    from include.retraining.learning.window_checks import window_failures, with_window_checks

__all__, __getattr__, __dir__ = face(__name__)
