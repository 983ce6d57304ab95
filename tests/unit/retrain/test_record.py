"""Which commit a training run is tagged with: the image's, baked in at build time, else the checkout's."""

from __future__ import annotations

import subprocess

import pytest

from include.retraining.retrain import record
from tests.support import REPO

pytestmark = pytest.mark.unit


def test_an_image_build_commit_wins_over_the_checkout(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RETRAINING_GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567")

    assert record._git_commit() == "0123456789abcdef0123456789abcdef01234567"


def test_without_a_baked_commit_the_checkout_head_is_used(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RETRAINING_GIT_COMMIT", " ")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    assert record._git_commit() == (head or None)
