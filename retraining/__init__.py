"""The pipeline's command line: `python -m retraining check` (see __main__.py)."""
