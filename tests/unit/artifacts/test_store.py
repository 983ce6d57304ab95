"""The artifact store on a local folder and on an fsspec store (`memory://`, which behaves as an
object store: no rename, no empty folders): atomic writes, reads, keys under the root, retention
and the snapshot writer all alike."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from include.retraining.artifacts import (
    artifact_href,
    artifact_path,
    monitoring_dir,
    opened,
    prune_reports,
    prune_snapshots,
    read_snapshot,
    relative_key,
    snapshot_dir,
    under,
    validation_html,
    validation_results,
    write_parquet_atomic,
    write_snapshot,
    write_text,
    write_with,
)
from include.retraining.artifacts import store as artifact_store
from include.retraining.common import Window, artifact_root

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOWS = [Window(START + timedelta(days=7 * i), START + timedelta(days=7 * (i + 1))) for i in range(4)]
SMALL = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
LATER = time.time() + timedelta(days=30).total_seconds()  # every file written now is old by then


@pytest.fixture(params=["local", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    if request.param == "local":
        yield tmp_path / "artifacts"
        return
    url = f"memory://bucket-{uuid.uuid4().hex[:8]}/prefix"
    yield url
    store = artifact_path(url)
    if store.exists():
        store.fs.rm(store.path, recursive=True)


def _files(root: str | Path) -> list[str]:
    base = artifact_path(root)
    return sorted(relative_key(root, p) for p in base.rglob("*") if p.is_file()) if base.exists() else []


def test_a_written_file_reads_back_under_its_key(root: str | Path) -> None:
    path = write_text(artifact_path(root) / "churn" / "monitoring" / "w1" / "summary.json", '{"ok": 1}')

    assert path.read_text() == '{"ok": 1}'
    assert relative_key(root, path) == "churn/monitoring/w1/summary.json"
    assert _files(root) == ["churn/monitoring/w1/summary.json"]


def test_a_failed_write_leaves_the_previous_file_whole_and_no_staged_file(root: str | Path) -> None:
    target = artifact_path(root) / "churn" / "report.html"
    write_text(target, "before")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_with(target, half_then_fail)

    assert target.read_text() == "before"
    assert _files(root) == ["churn/report.html"]


def test_a_remote_write_is_one_put_of_a_file_staged_outside_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"memory://bucket-{uuid.uuid4().hex[:8]}/prefix"
    target = artifact_path(url) / "churn" / "report.html"
    puts = []
    real_put = target.fs.put_file
    monkeypatch.setattr(target.fs, "put_file", lambda src, dst, **kw: (puts.append(dst), real_put(src, dst, **kw)))

    write_text(target, "<html></html>")

    assert puts == [target.path]
    assert target.read_text() == "<html></html>"
    target.fs.rm(artifact_path(url).path, recursive=True)


def test_parquet_and_snapshots_round_trip_and_a_rerun_finds_the_same_file(root: str | Path) -> None:
    first = write_snapshot(SMALL, root, "churn", WINDOWS[0])
    second = write_snapshot(SMALL, root, "churn", WINDOWS[0])
    frame = write_parquet_atomic(SMALL, monitoring_dir(root, "churn", WINDOWS[0]) / "current.parquet")

    assert first == second and first.path.parent == snapshot_dir(root, "churn", WINDOWS[0])
    pd.testing.assert_frame_equal(read_snapshot(str(first.path)), SMALL)
    pd.testing.assert_frame_equal(read_snapshot(str(frame), columns=["a"]), SMALL[["a"]])
    assert len(_files(root)) == 2


def test_a_damaged_snapshot_in_the_store_is_rewritten(root: str | Path) -> None:
    first = write_snapshot(SMALL, root, "churn", WINDOWS[0])
    first.path.write_bytes(b"PAR1 torn")

    second = write_snapshot(SMALL, root, "churn", WINDOWS[0])

    assert second.path == first.path
    pd.testing.assert_frame_equal(read_snapshot(second.path), SMALL)
    with opened(second.path) as source:
        assert source == str(second.path) if artifact_store.is_local(root) else source.read(4) == b"PAR1"


def test_retention_prunes_old_windows_in_the_store_and_keeps_the_protected(root: str | Path) -> None:
    snapshots = [write_snapshot(SMALL.assign(a=SMALL.a + i), root, "churn", w) for i, w in enumerate(WINDOWS)]
    for window in WINDOWS:
        write_text(monitoring_dir(root, "churn", window) / "drift_report.html", "<html></html>")

    deleted = prune_snapshots(root, "churn", 2, {str(snapshots[0].path)}, LATER)
    folders = prune_reports(root, "churn", 2, LATER)

    assert sorted(str(p) for p in deleted) == [str(snapshots[1].path)]
    assert sorted(p.name for p in folders) == sorted(w.label for w in WINDOWS[:2])
    assert sorted(_files(root)) == sorted(
        [relative_key(root, s.path) for s in (snapshots[0], *snapshots[2:])]
        + [f"churn/monitoring/{w.label}/drift_report.html" for w in WINDOWS[2:]]
    )


def test_young_files_are_never_pruned(root: str | Path) -> None:
    for i, window in enumerate(WINDOWS):
        write_snapshot(SMALL.assign(a=SMALL.a + i), root, "churn", window)

    assert prune_snapshots(root, "churn", 1, set(), time.time()) == []


@pytest.mark.parametrize("key", ["../outside.html", "churn/../../outside.html", "", "."])
def test_a_key_never_climbs_out_of_the_root(root: str | Path, key: str) -> None:
    assert under(root, key) is None or relative_key(root, under(root, key)) is None


def test_keys_of_other_roots_and_other_stores_are_refused(root: str | Path) -> None:
    assert relative_key(root, "s3://elsewhere/churn/report.html") is None
    assert relative_key(root, "/etc/passwd") is None
    assert relative_key(root, root) is None
    assert artifact_href(root, f"{str(root).rstrip('/')}/churn/a b.html", "http://x/") == (
        "http://x/retraining-artifacts/churn/a%20b.html"
    )


def test_a_local_file_url_is_a_local_folder(tmp_path: Path) -> None:
    assert artifact_store.is_local(f"file://{tmp_path}")
    assert artifact_path(f"file://{tmp_path}") == tmp_path.resolve()
    assert not artifact_store.is_local("memory://bucket/prefix")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "DATA/artifacts"),
        ("s3://bucket/prefix/", "s3://bucket/prefix"),
        ("gs://bucket", "gs://bucket"),
        ("file:///srv/artifacts", "/srv/artifacts"),
        ("/srv/artifacts/", "/srv/artifacts"),
    ],
)
def test_the_setting_takes_a_folder_or_a_store_url(tmp_path: Path, value: str, expected: str) -> None:
    got = artifact_root(value, tmp_path)

    assert str(got) == expected.replace("DATA", str(tmp_path))
    assert isinstance(got, str) == ("://" in expected)


def test_a_store_url_without_a_bucket_is_refused_with_the_variable_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RETRAINING_ARTIFACT_ROOT='s3://'.*s3://bucket/prefix"):
        artifact_root("s3://", tmp_path)


def test_a_store_never_answers_from_a_cached_listing() -> None:
    # The api-server lives long: a cached listing would hide reports written since by other hosts.
    fs = artifact_path("memory://bucket-listing/prefix").fs

    assert fs.dircache.use_listings_cache is False


def test_the_models_page_finds_every_validation_result_in_window_order(root: str | Path) -> None:
    for window in reversed(WINDOWS):
        write_text(validation_html(root, "churn", window), "<html></html>")

    found = validation_results(root, "churn")

    assert [relative_key(root, p) for p in found] == [
        f"churn/validation/{w.label}/gx_result.html" for w in sorted(WINDOWS, key=lambda w: w.label)
    ]
