"""Static checks of the Kubernetes deployment (deploy/helm/): the values for the official Airflow
chart and our own manifests beside it (deploy/helm/extras/).

No cluster, no Helm binary and no copy of the chart here (docs/kubernetes.md says why), so the
values are checked for what this project owns: they parse, name our image's Airflow version, set
only variables the pipeline reads, and reference only Secrets and ConfigMaps that something
creates. Our manifests, and the objects the values hand to Kubernetes as they are (the scheduler's
extra volumes, the env ConfigMap), are validated with kubernetes-validate's offline schemas for
the oldest and newest Kubernetes versions it knows, in strict mode (an unknown field fails).
"""

from __future__ import annotations

import posixpath
import re

import kubernetes_validate
import pytest
import yaml

from include.orchestration.dagfiles import (
    TRAIN_EXECUTOR_VARIABLE,
    TRAIN_POD_TEMPLATE_VARIABLE,
    TRAIN_QUEUE_VARIABLE,
)
from tests.support import REPO
from tests.unit.project.test_compose import (
    COMPOSE_FILE,
    ENV_READ_BY_CODE,
    REQUIREMENTS,
    _environment,
    _pin,
)

pytestmark = pytest.mark.unit

HELM = REPO / "deploy" / "helm"
VALUES_FILE = HELM / "values.yaml"
EXTRAS = HELM / "extras"
POD_TEMPLATE_FILE = EXTRAS / "train-pod-template.yaml"
SERVE_FILE = EXTRAS / "serve.yaml"
SECRETS_FILE = EXTRAS / "secrets.example.yaml"
KUSTOMIZATION_FILE = EXTRAS / "kustomization.yaml"
DOCS = REPO / "docs" / "kubernetes.md"
DEPLOYMENT_DOCS = REPO / "docs" / "deployment.md"
# Airflow 3.3 is tested on Kubernetes 1.30 and later; the newest is the one the validator ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# The chart's ConfigMap of airflow.cfg is `<release>-config`; the train pod template mounts it.
RELEASE = "airflow"
# The Secret keys the chart reads for each of its `...SecretName` values.
CHART_SECRET_KEYS = {
    ("data", "metadataSecretName"): "connection",
    ("data", "resultBackendSecretName"): "connection",
    ("data", "brokerUrlSecretName"): "connection",
    ("fernetKeySecretName",): "fernet-key",
    ("apiSecretKeySecretName",): "api-secret-key",
    ("jwtSecretName",): "jwt-secret",
    ("redis", "passwordSecretName"): "password",
}
# Where the code reads an environment variable by its literal name (`_int(env, "NAME", 1)` too).
_READ_IN_CODE = re.compile(
    r"""(?:environ(?:\.get)?\(|environ\[|getenv\(|env\.get\(|env\[|\(env,)\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def _documents(path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES_FILE.read_text())


@pytest.fixture(scope="module")
def env_config_map(values) -> dict[str, str]:
    """The pipeline's settings: the ConfigMap the chart creates from `extraConfigMaps`."""
    return yaml.safe_load(values["extraConfigMaps"]["retraining-env"]["data"])


@pytest.fixture(scope="module")
def secrets() -> dict[str, dict[str, str]]:
    return {doc["metadata"]["name"]: doc["stringData"] for doc in _documents(SECRETS_FILE)}


@pytest.fixture(scope="module")
def pod_template() -> dict:
    (pod,) = _documents(POD_TEMPLATE_FILE)
    return pod


@pytest.fixture(scope="module")
def serve() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in _documents(SERVE_FILE)}


@pytest.fixture(scope="module")
def kustomization() -> dict:
    return yaml.safe_load(KUSTOMIZATION_FILE.read_text())


def _variables_the_pipeline_reads() -> set[str]:
    """Every container variable of docker-compose.yaml, every name the code reads literally, where
    train runs, and the object store's own variables that docs/deployment.md documents."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    names = {name for service in compose.values() for name in _environment(service)}
    for folder in ("include", "dags", "serving", "plugins", "retraining"):
        for path in (REPO / folder).rglob("*.py"):
            names |= set(_READ_IN_CODE.findall(path.read_text()))
    names |= {TRAIN_QUEUE_VARIABLE, TRAIN_EXECUTOR_VARIABLE, TRAIN_POD_TEMPLATE_VARIABLE}
    return names | set(re.findall(r"`(AWS_[A-Z_]+)`", DEPLOYMENT_DOCS.read_text()))


def _env_from(container_or_values: list[dict]) -> tuple[set[str], set[str]]:
    """The ConfigMaps and Secrets an `envFrom` list names."""
    config_maps = {item["configMapRef"]["name"] for item in container_or_values if "configMapRef" in item}
    secrets = {item["secretRef"]["name"] for item in container_or_values if "secretRef" in item}
    return config_maps, secrets


def _validate(manifest: dict) -> None:
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(manifest, version, strict=True)


def _container(pod_spec: dict, name: str) -> dict:
    (container,) = [c for c in pod_spec["containers"] if c["name"] == name]
    return container


def test_values_name_the_airflow_version_of_our_image(values) -> None:
    pin = _pin(REQUIREMENTS.read_text(), "apache-airflow")
    dockerfile_base = re.search(r"^FROM apache/airflow:(\S+)-python", (REPO / "Dockerfile").read_text(), re.M)

    assert values["airflowVersion"] == values["defaultAirflowTag"] == pin == dockerfile_base.group(1)
    assert set(values["images"]["airflow"]) >= {"repository", "tag"}


def test_the_chart_version_is_named_once_for_values_and_docs(values) -> None:
    header = re.findall(r"chart version (\d+\.\d+)\.x", VALUES_FILE.read_text())
    commands = re.findall(
        r"apache-airflow/airflow --version (\d+\.\d+\.\d+)", VALUES_FILE.read_text() + DOCS.read_text()
    )

    assert header and commands and {c.rsplit(".", 1)[0] for c in commands} == set(header)
    assert f"helm upgrade --install {RELEASE} apache-airflow/airflow" in DOCS.read_text()


def test_celery_runs_the_tasks_and_kubernetes_runs_train(values, env_config_map) -> None:
    executors = values["executor"].split(",")

    assert executors[0] == "CeleryExecutor", "the first executor is every task's default"
    assert env_config_map[TRAIN_EXECUTOR_VARIABLE] in executors[1:]
    assert values["config"]["celery"]["celery_config_options"] == "include.orchestration.celery_config.CELERY_CONFIG"


def test_every_variable_the_values_and_manifests_set_is_one_the_pipeline_reads(
    env_config_map, secrets, pod_template, serve
) -> None:
    serve_env = _container(serve["Deployment"]["spec"]["template"]["spec"], "serve")["env"]
    set_here = {
        "values.yaml retraining-env": set(env_config_map),
        "secrets retraining-pipeline": set(secrets["retraining-pipeline"]),
        "secrets retraining-serving": set(secrets["retraining-serving"]),
        "train pod template": {e["name"] for e in _container(pod_template["spec"], "base").get("env", [])},
        "serve.yaml": {e["name"] for e in serve_env},
    }

    read = _variables_the_pipeline_reads()

    assert {where: names - read for where, names in set_here.items() if names - read} == {}


def test_every_airflow_container_gets_the_settings_compose_gives_it(values, env_config_map, secrets) -> None:
    config_maps, secret_names = _env_from(yaml.safe_load(values["extraEnvFrom"]))
    reaching = set(env_config_map) | set(secrets["retraining-pipeline"])

    assert config_maps == {"retraining-env"} and secret_names == {"retraining-pipeline"}
    assert set(ENV_READ_BY_CODE) - reaching == set()
    assert env_config_map.get("RETRAINING_ARTIFACT_ROOT", "").startswith("s3://")


def test_task_logs_go_to_the_bucket_of_the_artifacts(values, env_config_map) -> None:
    logging = values["config"]["logging"]
    bucket = env_config_map["RETRAINING_ARTIFACT_ROOT"].split("/")[2]

    assert logging["remote_logging"] == "True"
    assert logging["remote_base_log_folder"].startswith(f"s3://{bucket}/")
    assert values["logs"]["persistence"]["enabled"] is False


def test_every_secret_the_chart_reads_is_declared_with_its_key(values, secrets) -> None:
    missing = []
    for path, key in CHART_SECRET_KEYS.items():
        node = values
        for part in path:
            node = (node or {}).get(part)
        if node and key not in secrets.get(node, {}):
            missing.append(f"{'.'.join(path)}: {node}/{key}")

    assert values["data"]["metadataSecretName"] and values["fernetKeySecretName"] and values["jwtSecretName"]
    assert missing == []


def test_every_secret_and_config_map_our_manifests_read_is_created(
    values, secrets, pod_template, serve, kustomization
) -> None:
    serve_container = _container(serve["Deployment"]["spec"]["template"]["spec"], "serve")
    train_container = _container(pod_template["spec"], "base")
    created_maps = (
        set(values["extraConfigMaps"])
        | {generator["name"] for generator in kustomization["configMapGenerator"]}
        | {f"{RELEASE}-config"}  # the chart's own airflow.cfg
    )
    secret_refs = {
        (ref["name"], ref["key"]) for e in serve_container["env"] if (ref := e.get("valueFrom", {}).get("secretKeyRef"))
    }
    map_refs = {ref["name"] for e in serve_container["env"] if (ref := e.get("valueFrom", {}).get("configMapKeyRef"))}
    train_maps, train_secrets = _env_from(train_container["envFrom"])
    volume_maps = {
        v["configMap"]["name"]
        for v in [*pod_template["spec"]["volumes"], *values["scheduler"]["extraVolumes"]]
        if "configMap" in v
    }

    assert {(name, key) for name, key in secret_refs if key not in secrets.get(name, {})} == set()
    assert train_secrets - set(secrets) == set()
    assert (map_refs | train_maps | volume_maps) - created_maps == set()


def test_train_pods_see_what_every_airflow_container_sees(values, pod_template) -> None:
    train = _container(pod_template["spec"], "base")

    assert _env_from(train["envFrom"]) == _env_from(yaml.safe_load(values["extraEnvFrom"]))
    mounts = {m["mountPath"]: m for m in train["volumeMounts"]}
    assert mounts["/opt/airflow/airflow.cfg"]["subPath"] == "airflow.cfg"


def test_the_scheduler_mounts_the_pod_template_where_the_dags_look_for_it(
    values, env_config_map, kustomization
) -> None:
    path = env_config_map[TRAIN_POD_TEMPLATE_VARIABLE]
    scheduler = values["scheduler"]
    (mount,) = [m for m in scheduler["extraVolumeMounts"] if m["mountPath"] == posixpath.dirname(path)]
    (volume,) = [v for v in scheduler["extraVolumes"] if v["name"] == mount["name"]]
    (generator,) = [g for g in kustomization["configMapGenerator"] if g["name"] == volume["configMap"]["name"]]

    assert posixpath.isabs(path) and generator["files"] == [posixpath.basename(path)]
    assert (EXTRAS / posixpath.basename(path)).resolve() == POD_TEMPLATE_FILE.resolve()
    assert kustomization["generatorOptions"]["disableNameSuffixHash"] is True, "values.yaml names it as it is"


def test_the_train_pod_template_is_a_pod_the_kubernetes_executor_can_use(pod_template) -> None:
    train = _container(pod_template["spec"], "base")  # the executor fills the container named `base`
    requests = train["resources"]["requests"]
    threads = {e["name"]: e["value"] for e in train["env"]}["RETRAINING_FIT_THREADS"]

    _validate(pod_template)

    assert pod_template["kind"] == "Pod" and pod_template["spec"]["restartPolicy"] == "Never"
    assert threads == requests["cpu"], "one fitting thread per requested core"
    assert train["resources"]["limits"]["memory"] == requests["memory"]


@pytest.mark.parametrize("path", [SERVE_FILE, SECRETS_FILE], ids=lambda p: p.name)
def test_our_manifests_are_valid_kubernetes_objects(path) -> None:
    documents = _documents(path)

    for manifest in documents:
        _validate(manifest)

    assert documents


def test_the_objects_the_values_hand_to_kubernetes_are_valid(values, env_config_map) -> None:
    """What the chart passes through as it is: the env ConfigMap, and the scheduler's extra
    volumes and mounts with the env sources, inside a pod as the chart puts them."""
    scheduler = values["scheduler"]
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "retraining-env"},
        "data": env_config_map,
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "scheduler"},
        "spec": {
            "containers": [
                {
                    "name": "scheduler",
                    "image": "retraining-airflow",
                    "envFrom": yaml.safe_load(values["extraEnvFrom"]),
                    "volumeMounts": scheduler["extraVolumeMounts"],
                }
            ],
            "volumes": scheduler["extraVolumes"],
        },
    }

    _validate(config_map)
    _validate(pod)

    assert all(isinstance(value, str) for value in env_config_map.values()), "a ConfigMap holds strings only"


def test_the_serving_service_reaches_the_serving_pods(serve) -> None:
    deployment, service = serve["Deployment"], serve["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = _container(deployment["spec"]["template"]["spec"], "serve")
    env = {e["name"]: e for e in container["env"]}

    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert container["command"] == ["python", "-m", "serving"]
    assert env["SERVING_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "retraining-serving"
    assert int(env["SERVING_PORT"]["value"]) == container["ports"][0]["containerPort"]
    assert not [name for name in env if name.startswith(("AIRFLOW", "WAREHOUSE"))], "serving gets none of Airflow's"


def test_no_secret_value_is_committed(secrets, values) -> None:
    values_text = VALUES_FILE.read_text()
    filled = {
        f"{name}/{key}": value
        for name, data in secrets.items()
        for key, value in data.items()
        if value and "CHANGE-ME" not in value
    }

    assert filled == {}
    assert (EXTRAS / ".gitignore").read_text().split().count("secrets.yaml") == 1
    assert not re.search(r"(?im)^\s*(fernetKey|apiSecretKey|jwtSecret|pass|password):\s*\S", values_text)


def test_the_kustomization_applies_our_files_and_your_secrets(kustomization) -> None:
    resources = kustomization["resources"]

    assert "secrets.yaml" in resources, "the filled-in copy of secrets.example.yaml"
    assert [r for r in resources if r != "secrets.yaml" and not (EXTRAS / r).is_file()] == []
    assert {image["name"] for image in kustomization["images"]} == {"retraining-airflow"}
