"""The artifact folder layout, defined once: `<root>/<model>/<kind>/<window label>/...`.

Steps write here and the UI plugin reads from here, so both ask these functions instead of
spelling out paths. The root is a local folder or a store URL (`store.artifact_path`): every
function here gives a location in the artifact store.
"""

from __future__ import annotations

from os import PathLike
from urllib.parse import quote

from include.retraining.artifacts.store import ArtifactPath, artifact_path, relative_key
from include.retraining.common import Window

Root = str | PathLike[str]

SNAPSHOTS = "snapshots"
VALIDATION = "validation"
MONITORING = "monitoring"
REFERENCE = "reference"
GX_RESULT_HTML = "gx_result.html"
# Where the api-server serves files of the artifact root (plugins/retraining_links.py).
ARTIFACTS_URL_PREFIX = "/retraining-artifacts"


def model_dir(artifact_root: Root, model: str) -> ArtifactPath:
    return artifact_path(artifact_root) / model


def snapshot_dir(artifact_root: Root, model: str, window: Window) -> ArtifactPath:
    """Training snapshots of one window, each file named by its content hash."""
    return model_dir(artifact_root, model) / SNAPSHOTS / window.label


def validation_dir(artifact_root: Root, model: str, window: Window) -> ArtifactPath:
    """The Great Expectations result of one window's validation."""
    return model_dir(artifact_root, model) / VALIDATION / window.label


def validation_html(artifact_root: Root, model: str, window: Window) -> ArtifactPath:
    return validation_dir(artifact_root, model, window) / GX_RESULT_HTML


def validation_results(artifact_root: Root, model: str) -> list[ArtifactPath]:
    """Every window's validation result page of a model, oldest window first (labels sort by time)."""
    return sorted((model_dir(artifact_root, model) / VALIDATION).glob(f"*/{GX_RESULT_HTML}"))


def monitoring_dir(artifact_root: Root, model: str, window: Window) -> ArtifactPath:
    """One monitoring window: current and matured rows, the drift report."""
    return model_dir(artifact_root, model) / MONITORING / window.label


def reference_dir(artifact_root: Root, model: str, version: str) -> ArtifactPath:
    """The cached reference profile (profile.json, sample.parquet) of a champion version."""
    return model_dir(artifact_root, model) / REFERENCE / f"v{version}"


def artifact_href(artifact_root: Root, path: Root | None, base_url: str) -> str:
    """The plugin URL of a file under the artifact root; "" for no file or one outside the root."""
    key = relative_key(artifact_root, path)
    return f"{base_url.rstrip('/')}{ARTIFACTS_URL_PREFIX}/{quote(key)}" if key else ""
