"""deploy/k8s, checked without a cluster.

* Every Kubernetes object validates against the official API's JSON schemas in their strict form
  (unknown fields are errors), carried offline by the ``kubernetes-validate`` package, for the oldest
  and the newest Kubernetes version it knows; KEDA's ScaledObject and TriggerAuthentication validate
  against ``schemas/keda.schema.json`` (written from KEDA's documented fields; strict too).
* ``kubectl kustomize`` (where kubectl is installed) renders the folder, and what it renders validates.
* What the schemas cannot know: the environment variables are ones the code reads, secrets only come
  from the Secret, probes hit the processes' real health ports, the grace period covers
  WORKBENCH_STOP_TIMEOUT, the security context is locked down, and the autoscaler reads the real queues.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.catalog import K8S, environment_names, manifests

KEDA_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "keda.schema.json").read_text())
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
OLDEST_K8S = "1.29"
NEWEST_K8S = kubernetes_validate.utils.latest_version()
SECRET = "workbench-secrets"
SECRET_ENV = {
    "WORKBENCH_SECRET_KEY",
    "DATABASE_URL",
    "AMQP_URL",
    "REDIS_URL",
    "WORKBENCH_SMTP_URL",
    "WORKBENCH_METRICS_TOKEN",
}
REQUIRED_SECRET_ENV = SECRET_ENV - {"WORKBENCH_SMTP_URL", "WORKBENCH_METRICS_TOKEN"}
"""What every process needs; the metrics token only the API (its /metrics), mail where it is sent."""
ONLY_THE_DATABASE = {"dbmanager"}
"""Processes that need nothing but PostgreSQL (no queue, no bus, no credentials to decrypt)."""
PROCESS_PORTS = {"api": 8006, "executor": 8002, "scheduler": 8003, "notifier": 8007, "dbmanager": 8005}
HEALTH_PATHS = {
    "api": "/api/v1/health",
    **dict.fromkeys(("executor", "scheduler", "notifier", "dbmanager"), "/health"),
}
NAMESPACE = "workbench"

RESOURCES = manifests()


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in RESOURCES if doc["kind"] == kind]


def deployments() -> dict[str, dict[str, Any]]:
    """component label -> Deployment."""
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in by_kind("Deployment")}


def config_map() -> dict[str, str]:
    (cm,) = by_kind("ConfigMap")
    return cm["data"]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def validate(doc: dict[str, Any], version: str) -> None:
    """Raise when ``doc`` does not validate (Kubernetes schemas, strict; KEDA's for its kinds)."""
    if doc["kind"] in KEDA_KINDS:
        schema = {"$ref": f"#/$defs/{doc['kind']}", "$defs": KEDA_SCHEMA["$defs"]}
        jsonschema.Draft202012Validator(schema).validate(doc)
    else:
        kubernetes_validate.validate(doc, version, strict=True)


def quantity(value: str | int) -> float:
    """A Kubernetes quantity (``250m``, ``1Gi``, ``"2"``) as a number."""
    units = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


# ---- schemas ----------------------------------------------------------------------------------------


def test_the_kustomization_lists_every_manifest_once() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    present = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present
    assert len(set(listed)) == len(listed)
    assert kustomization["namespace"] == NAMESPACE
    names = [(doc["kind"], doc["metadata"]["name"]) for _, doc in RESOURCES]
    assert len(set(names)) == len(names), "two objects of one kind share a name"


@pytest.mark.parametrize("version", sorted({OLDEST_K8S, NEWEST_K8S}))
@pytest.mark.parametrize(
    ("name", "doc"), RESOURCES, ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in RESOURCES]
)
def test_each_object_validates_against_its_schema(name: str, doc: dict[str, Any], version: str) -> None:
    validate(doc, version)


def test_the_validators_reject_an_unknown_field() -> None:
    """The schemas are strict: a misspelt field fails (so the test above is not vacuous)."""
    deployment = copy.deepcopy(deployments()["executor"])
    container(deployment)["readinesProbe"] = container(deployment).pop("readinessProbe")
    with pytest.raises(jsonschema.ValidationError, match="readinesProbe"):
        validate(deployment, NEWEST_K8S)
    (scaled,) = copy.deepcopy(by_kind("ScaledObject"))
    scaled["spec"]["minReplicas"] = scaled["spec"].pop("minReplicaCount")
    with pytest.raises(jsonschema.ValidationError, match="minReplicas"):
        validate(scaled, NEWEST_K8S)
    (scaled,) = copy.deepcopy(by_kind("ScaledObject"))
    scaled["spec"]["triggers"][0]["metadata"]["queue"] = "execution.normal"
    with pytest.raises(jsonschema.ValidationError, match="queue"):
        validate(scaled, NEWEST_K8S)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with its kustomize) is not installed")
def test_kustomize_renders_the_folder_and_the_result_validates() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == sorted(
        (d["kind"], d["metadata"]["name"]) for _, d in RESOURCES
    )
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    for doc in docs:
        validate(doc, NEWEST_K8S)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE
        if doc["kind"] == "Deployment":
            assert container(doc)["image"] == f"{image['newName']}:{image['newTag']}"


# ---- configuration and secrets ----------------------------------------------------------------------


def test_every_environment_variable_is_one_the_code_reads() -> None:
    known = environment_names()
    used = set(config_map())
    for deployment in deployments().values():
        used.update(e["name"] for e in container(deployment).get("env", []))
    assert used - known == set(), "names that no code reads"


def test_secrets_come_only_from_the_secret() -> None:
    assert by_kind("Secret") == [], "no Secret in the manifests: it is created apart (docs/operations.md)"
    assert set(config_map()) & SECRET_ENV == set()
    for value in config_map().values():
        assert not re.search(r"://[^/\s]*:[^/\s]*@", value), f"a password in the ConfigMap: {value}"
    for component, deployment in deployments().items():
        env = {e["name"]: e for e in container(deployment).get("env", [])}
        if component in ONLY_THE_DATABASE:
            assert set(env) == {"DATABASE_URL"}, component
        else:
            assert set(env) >= REQUIRED_SECRET_ENV, component
        for name in SECRET_ENV & set(env):
            assert "value" not in env[name], f"{component}: {name} is given literally"
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (SECRET, name)
            assert ref.get("optional", False) == (name == "WORKBENCH_SMTP_URL"), (component, name)
        assert container(deployment)["envFrom"] == [{"configMapRef": {"name": "workbench-config"}}]


def test_the_settings_and_the_server_accept_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ConfigMap plus a Secret's worth of values make a configuration the processes start with
    (the API's check refuses 0.0.0.0 without accounts, a sender is required with SMTP...)."""
    from server.config import ServerConfig
    from workbench.config import Settings

    secrets = {
        "WORKBENCH_SECRET_KEY": "A" * 43,
        "DATABASE_URL": "postgresql://workbench:pw@postgres:5432/workbench",
        "AMQP_URL": "amqp://workbench:pw@rabbitmq:5672/",
        "REDIS_URL": "redis://redis:6379/0",
        "WORKBENCH_SMTP_URL": "smtp://mailer:pw@smtp.example.com:587",
    }
    env = {**config_map(), **secrets}
    settings = Settings.from_env(env)
    assert settings.stop_timeout == float(config_map()["WORKBENCH_STOP_TIMEOUT"])
    assert settings.amqp_url and settings.redis_url and settings.database_url
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = ServerConfig.from_env(host="0.0.0.0", port=PROCESS_PORTS["api"])
    assert config.auth == "accounts"


# ---- processes --------------------------------------------------------------------------------------


def test_each_process_runs_its_command_on_its_port() -> None:
    assert set(deployments()) == set(PROCESS_PORTS)
    for component, deployment in deployments().items():
        c = container(deployment)
        command = c["command"]
        assert command[:2] == ["workbench", "serve" if component == "api" else component]
        port = int(command[command.index("--port") + 1])
        assert port == PROCESS_PORTS[component]
        assert command[command.index("--host") + 1] == "0.0.0.0"
        assert port in {p["containerPort"] for p in c["ports"]}


def test_probes_ask_each_process_its_health() -> None:
    for component, deployment in deployments().items():
        c = container(deployment)
        port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = c[kind]["httpGet"]
            assert probe["path"] == HEALTH_PATHS[component], (component, kind)
            assert port_names.get(probe["port"], probe["port"]) == PROCESS_PORTS[component], (component, kind)
            if component == "api":  # the front door refuses a Host that is not a name of the server
                assert {"name": "Host", "value": "localhost"} in probe["httpHeaders"]
        assert c["livenessProbe"]["periodSeconds"] * c["livenessProbe"]["failureThreshold"] >= 60


def test_the_grace_period_covers_the_stop_timeout() -> None:
    """A stopping process exits within WORKBENCH_STOP_TIMEOUT + 2 s, its watchdog 3 s later
    (docs/operations.md): Kubernetes must not kill it before, nor before a preStop pause ends."""
    stop_timeout = float(config_map()["WORKBENCH_STOP_TIMEOUT"])
    for component, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        pause = 0.0
        pre_stop = container(deployment).get("lifecycle", {}).get("preStop")
        if pre_stop:
            command = pre_stop["exec"]["command"]
            assert command[0] == "sleep"
            pause = float(command[1])
        assert pod["terminationGracePeriodSeconds"] >= stop_timeout + 5 + pause, component


def test_replicas() -> None:
    d = deployments()
    assert d["scheduler"]["spec"]["replicas"] == 2, "one leads, one stands by"
    assert d["api"]["spec"]["replicas"] >= 2
    assert d["notifier"]["spec"]["replicas"] >= 2
    assert d["dbmanager"]["spec"]["replicas"] == 1, "one prunes at a time: more would only wait"
    assert "replicas" not in d["executor"]["spec"], "the ScaledObject owns the executors' replicas"


def test_every_container_has_requests_and_limits() -> None:
    for component, deployment in deployments().items():
        resources = container(deployment)["resources"]
        for resource in ("cpu", "memory"):
            request = quantity(resources["requests"][resource])
            limit = quantity(resources["limits"][resource])
            assert 0 < request <= limit, (component, resource)


def test_pods_run_locked_down() -> None:
    home = config_map()["WORKBENCH_HOME"]
    for component, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, component
        assert pod["securityContext"]["runAsUser"] > 0, component
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, component
        assert pod["automountServiceAccountToken"] is False, component
        context = container(deployment)["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, component
        assert context["readOnlyRootFilesystem"] is True, component
        assert context["capabilities"] == {"drop": ["ALL"]}, component
        # A read-only root: the places the processes write are volumes of their own.
        mounts = {m["mountPath"]: m["name"] for m in container(deployment)["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for path in ("/tmp", home):
            assert path in mounts, (component, path)
            assert "emptyDir" in volumes[mounts[path]], (component, path)
    (namespace,) = by_kind("Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_services_and_budgets_select_the_pods() -> None:
    pods = {c: d["spec"]["template"]["metadata"]["labels"] for c, d in deployments().items()}
    for deployment in deployments().values():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for service in by_kind("Service"):
        targets = [c for c, labels in pods.items() if service["spec"]["selector"].items() <= labels.items()]
        assert targets == ["api"], service["metadata"]["name"]
        port_names = {p["name"] for p in container(deployments()["api"])["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    for budget in by_kind("PodDisruptionBudget"):
        selector = budget["spec"]["selector"]["matchLabels"]
        assert len([c for c, labels in pods.items() if selector.items() <= labels.items()]) == 1


def test_the_image_is_the_one_the_kustomization_sets() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    for deployment in deployments().values():
        assert container(deployment)["image"] == image["name"]


# ---- autoscaling ------------------------------------------------------------------------------------


def test_executors_scale_on_the_execution_queues() -> None:
    from workbench.config import Settings
    from workbench.runtime.rabbit import queue_name

    (scaled,) = by_kind("ScaledObject")
    (auth,) = by_kind("TriggerAuthentication")
    spec = scaled["spec"]
    target = spec["scaleTargetRef"]
    assert (target.get("kind", "Deployment"), target["name"]) == ("Deployment", "workbench-executor")
    assert deployments()["executor"]["metadata"]["name"] == "workbench-executor"
    assert 2 == spec["minReplicaCount"] < spec["maxReplicaCount"]

    triggers = {t["name"]: t for t in spec["triggers"]}
    assert {t["metadata"]["queueName"] for t in triggers.values()} == {
        queue_name("high"),
        queue_name("normal"),
    }
    for trigger in triggers.values():
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert "host" not in trigger["metadata"], "the address (with its password) comes from the Secret"
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "host", "name": SECRET, "key": "AMQP_URL"}]

    # One metric, the two queues added up, against concurrency x 10 (docs/operations.md's rule).
    modifiers = spec["advanced"]["scalingModifiers"]
    assert set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", modifiers["formula"])) == set(triggers)
    concurrency = int(
        config_map().get("WORKBENCH_EXECUTOR_CONCURRENCY") or Settings.from_env({}).executor_concurrency
    )
    assert float(modifiers["target"]) == concurrency * 10
    assert {float(t["metadata"]["value"]) for t in triggers.values()} == {concurrency * 10}


def test_the_operations_guide_says_how_to_apply_it() -> None:
    """docs/operations.md's Kubernetes section: the command, the Secret with every key the pods read,
    the replica range KEDA keeps."""
    text = (K8S.parents[1] / "docs" / "operations.md").read_text()
    section = text[text.index("## Kubernetes") :]
    assert "kubectl apply -k deploy/k8s" in section
    assert f"create secret generic {SECRET}" in section
    for name in SECRET_ENV:
        assert f"--from-literal={name}=" in section, name
    (scaled,) = by_kind("ScaledObject")
    assert f"{scaled['spec']['minReplicaCount']} to {scaled['spec']['maxReplicaCount']} replicas" in section
