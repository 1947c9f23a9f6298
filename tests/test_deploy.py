"""The Kubernetes manifests are valid offline, and their numbers agree with each other."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.server import ROOT

MANIFESTS = ROOT / "deploy" / "kubernetes"


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((MANIFESTS / name).read_text())
    assert isinstance(data, dict)
    return data


def _args(container: dict[str, Any]) -> dict[str, str]:
    parsed = {}
    for arg in container["args"]:
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            parsed[key] = value
    return parsed


@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml", "hpa.yaml"])
def test_builtin_kinds_validate_against_the_kubernetes_schema(name: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = kubernetes_validate.utils.latest_version()
    kubernetes_validate.validate(_load(name), version, strict=True)


def test_numbers_agree() -> None:
    deployment = _load("deployment.yaml")
    service = _load("service.yaml")
    hpa = _load("hpa.yaml")
    monitor = _load("podmonitor.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = _args(container)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}

    # the server listens where the pod says it does
    assert int(args["port"]) == ports["http"]
    assert int(args["metrics-port"]) == ports["metrics"]
    assert args["metrics-host"] == "0.0.0.0" and args["host"] == "0.0.0.0"

    # SIGTERM arrives after preStop; the grace period must cover both, with room to spare
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(args["timeout-graceful-shutdown"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + graceful

    # probes go to the metrics port's health endpoints, not through the app
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}

    # one worker per CPU of the limit, and the limit is whole CPUs
    (env,) = [e for e in container["env"] if e["name"] == "WEB_CONCURRENCY"]
    assert env["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"]
    assert float(resources["limits"]["cpu"]).is_integer()

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= set(ports)
    assert monitor["kind"] == "PodMonitor"
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"

    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2 <= deployment["spec"]["replicas"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
