"""The Kubernetes manifests in deploy/kubernetes: structure, ports consistent with the
config and the image, every referenced ConfigMap and Secret defined, selectors that
select, probes on the gateway's real paths, a grace period that fits the drain, and
embedded configs the gateway accepts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.app import create_app
from gateway.config.loader import load_config_text
from gateway.config.schema import GatewayConfig
from gateway.config.settings import DEFAULT_PORT

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
Doc = dict[str, Any]


def documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def pod_containers(deployment: Doc) -> list[Doc]:
    spec = deployment["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def gateway_container(deployment: Doc) -> Doc:
    [container] = [c for c in pod_containers(deployment) if "llm-gateway" in c["image"]]
    return container


def env_value(container: Doc, name: str) -> str | None:
    for item in container.get("env", []):
        if item["name"] == name:
            return str(item["value"]) if "value" in item else None
    return None


def embedded_config(docs: list[Doc], deployment: Doc) -> GatewayConfig:
    """The config file the gateway container reads, from the ConfigMap mounted there."""
    container = gateway_container(deployment)
    path = Path(env_value(container, "GATEWAY_CONFIG") or "/etc/gateway/config.yaml")
    [mount] = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == path.parent]
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    name = volumes[mount["name"]]["configMap"]["name"]
    [config_map] = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == name]
    return load_config_text(config_map["data"][path.name], f"{name}/{path.name}")


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


@pytest.fixture(params=MANIFESTS, ids=lambda p: p.name)
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    return documents(request.param)


def test_both_deployment_shapes_exist() -> None:
    assert {p.name for p in MANIFESTS} == {"gateway.yaml", "sidecar.yaml"}
    assert (ROOT / "deploy" / "kubernetes" / "README.md").read_text().count("Sentinel") >= 1


def test_every_document_is_a_named_kubernetes_object(docs: list[Doc]) -> None:
    for doc in docs:
        assert isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)
        assert doc["metadata"]["name"]


def test_every_referenced_configmap_and_secret_is_defined_with_its_keys(
    docs: list[Doc],
) -> None:
    defined = {
        kind: {d["metadata"]["name"]: d for d in by_kind(docs, kind)}
        for kind in ("ConfigMap", "Secret")
    }
    secret_keys = {n: set(d.get("stringData", {})) for n, d in defined["Secret"].items()}
    config_keys = {n: set(d.get("data", {})) for n, d in defined["ConfigMap"].items()}
    referenced = 0
    for key, value in (kv for d in docs for kv in walk(d)):
        if key == "configMap":
            assert value["name"] in defined["ConfigMap"], value
        elif key in ("secret", "secretRef"):
            assert value.get("secretName", value.get("name")) in defined["Secret"], value
        elif key == "secretKeyRef":
            assert value["key"] in secret_keys[value["name"]], value
        elif key == "configMapKeyRef":
            assert value["key"] in config_keys[value["name"]], value
        else:
            continue
        referenced += 1
    assert referenced >= 2


def test_the_embedded_config_is_valid_and_follows_its_file(docs: list[Doc]) -> None:
    for deployment in by_kind(docs, "Deployment"):
        config = embedded_config(docs, deployment)
        assert config.server.watch_config
        # Every key the providers read from the environment is given to the container.
        container = gateway_container(deployment)
        given = {item["name"] for item in container.get("env", [])}
        for source in container.get("envFrom", []):
            [secret] = [
                d
                for d in by_kind(docs, "Secret")
                if d["metadata"]["name"] == source["secretRef"]["name"]
            ]
            given |= set(secret["stringData"])
        for provider in config.providers.values():
            if provider.api_key_env:
                assert provider.api_key_env in given


def test_ports_and_probes_match_the_gateway(docs: list[Doc]) -> None:
    for deployment in by_kind(docs, "Deployment"):
        container = gateway_container(deployment)
        port = int(env_value(container, "GATEWAY_PORT") or DEFAULT_PORT)
        named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        assert all(number == port for number in named.values())
        app = create_app(embedded_config(docs, deployment))
        paths = {route.path for route in app.app.routes}
        probes = [container[p] for p in ("readinessProbe", "livenessProbe", "startupProbe")]
        assert probes[0] and probes[1], "readiness and liveness probes are required"
        seen: dict[str, str] = {}
        for kind, probe in zip(("readiness", "liveness", "startup"), probes, strict=True):
            if "httpGet" in probe:
                get = probe["httpGet"]
                assert named.get(get["port"], get["port"]) == port
                path = get["path"]
            else:  # an exec probe through the image's health check
                command = probe["exec"]["command"]
                assert command[:3] == ["python", "-m", "gateway.healthcheck"]
                path = command[3]
            assert path in paths, f"{kind} probe on {path}, which the gateway does not serve"
            seen[kind] = path
        assert seen["readiness"] == "/readyz" and seen["liveness"] == "/healthz"
        for service in by_kind(docs, "Service"):
            for service_port in service["spec"]["ports"]:
                assert named.get(service_port["targetPort"], service_port["targetPort"]) == port


def test_selectors_select_the_pods(docs: list[Doc]) -> None:
    for deployment in by_kind(docs, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        name = deployment["metadata"]["name"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        for service in by_kind(docs, "Service"):
            assert service["spec"]["selector"].items() <= labels.items()
        for budget in by_kind(docs, "PodDisruptionBudget"):
            assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
            assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
        for scaler in by_kind(docs, "HorizontalPodAutoscaler"):
            assert scaler["spec"]["scaleTargetRef"]["name"] == name
            assert scaler["spec"]["minReplicas"] >= 2
            [metric] = scaler["spec"]["metrics"]
            assert metric["resource"]["name"] == "cpu"


def test_the_service_monitor_scrapes_metrics_on_a_service_port(docs: list[Doc]) -> None:
    for monitor in by_kind(docs, "ServiceMonitor"):
        [service] = by_kind(docs, "Service")
        assert monitor["spec"]["selector"]["matchLabels"].items() <= (
            service["metadata"]["labels"].items()
        )
        port_names = {p["name"] for p in service["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"


def test_the_grace_period_fits_the_drain_and_resources_are_set(docs: list[Doc]) -> None:
    for deployment in by_kind(docs, "Deployment"):
        server = embedded_config(docs, deployment).server
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace >= server.drain_s + server.shutdown_grace_s + 5
        resources = gateway_container(deployment)["resources"]
        assert resources["requests"]["memory"] and resources["limits"]["memory"]
        # Requests cover idle RSS (about 55 MB); the limit covers 5,000 streams (< 180 MB).
        assert _mebibytes(resources["requests"]["memory"]) >= 64
        assert _mebibytes(resources["limits"]["memory"]) >= 192


def test_the_replicated_service_has_every_piece() -> None:
    kinds = {d["kind"] for d in documents(ROOT / "deploy" / "kubernetes" / "gateway.yaml")}
    assert kinds >= {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ServiceMonitor",
    }


def _mebibytes(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]
