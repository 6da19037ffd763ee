"""deploy/helm/incident-desk rendered without a cluster or the `helm` binary (tests/support/
helm_templates.py evaluates the chart's template subset, strictly) and checked for what the
processes need: the settings it names exist, probes hit the ports and paths the processes serve,
secrets come only from Kubernetes Secrets, and it agrees with the plain manifests in deploy/k8s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_desk.settings import Settings
from tests.support.helm_templates import Chart, TemplateError

REPO = Path(__file__).resolve().parents[2]
CHART = Chart(REPO / "deploy" / "helm" / "incident-desk")
K8S = REPO / "deploy" / "k8s"
KNOWN = {
    alias
    for info in Settings.model_fields.values()
    for alias in info.validation_alias.choices  # type: ignore[union-attr]
}


def rendered(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    docs = []
    for name, text in CHART.render(values).items():
        try:
            docs += [d for d in yaml.safe_load_all(text) if d]
        except yaml.YAMLError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{name} does not render to YAML: {exc}\n{text}")
    return docs


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def test_default_values_render_every_object_into_the_release_namespace() -> None:
    docs = rendered()
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("ConfigMap", "desk"),
        ("Deployment", "desk-intake"),
        ("Deployment", "desk-worker"),
        ("Job", "desk-register-search-attributes"),
        ("PodDisruptionBudget", "desk-intake"),
        ("PodDisruptionBudget", "desk-worker"),
        ("Service", "desk-intake"),
    ]
    assert {d["metadata"]["namespace"] for d in docs} == {"ops"}
    # The chart never holds a secret value.
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_every_variable_the_chart_sets_is_a_setting() -> None:
    docs = rendered()
    names = set(one(docs, "ConfigMap", "desk")["data"])
    for deployment in ("desk-worker", "desk-intake"):
        names |= {e["name"] for e in container(one(docs, "Deployment", deployment))["env"]}
    job = one(docs, "Job", "desk-register-search-attributes")
    names |= {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert names - KNOWN == set()


def test_probes_ports_and_shutdown_grace_fit_the_processes() -> None:
    docs = rendered({"worker": {"healthPort": 9090, "replicas": 5}})
    worker = one(docs, "Deployment", "desk-worker")
    assert worker["spec"]["replicas"] == 5
    c = container(worker)
    env = {e["name"]: e["value"] for e in c["env"]}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert env["INCIDENT_DESK_WORKER_HEALTH_PORT"] == "9090" and ports["health"] == 9090
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    grace = float(one(docs, "ConfigMap", "desk")["data"]["INCIDENT_DESK_WORKER_SHUTDOWN_GRACE"])
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace + 5

    intake = container(one(docs, "Deployment", "desk-intake"))
    assert intake["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert intake["command"] == ["incident-desk", "serve"]
    service = one(docs, "Service", "desk-intake")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert (
        service["spec"]["selector"]
        == one(docs, "Deployment", "desk-intake")["spec"]["selector"]["matchLabels"]
    )


def test_secrets_are_mounted_from_named_kubernetes_secrets_only() -> None:
    docs = rendered({"secrets": {"name": "from-vault"}})
    for name in ("desk-worker", "desk-intake"):
        spec = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        secrets = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
        assert secrets["secrets"]["secretName"] == "from-vault"
        assert secrets["temporal-tls"]["optional"] is True
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert container(one(docs, "Deployment", name))["securityContext"]["readOnlyRootFilesystem"]
    config = one(docs, "ConfigMap", "desk")["data"]
    secret_paths = [v for k, v in config.items() if k.endswith("_FILE") or k.endswith("_STORE")]
    assert secret_paths and all(p.startswith("/var/run/secrets/") for p in secret_paths)


def test_search_attribute_registration_is_a_pre_install_hook_that_can_be_turned_off() -> None:
    job = one(rendered(), "Job", "desk-register-search-attributes")
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "incident-desk",
        "temporal",
        "register-search-attributes",
    ]
    off = rendered({"registerSearchAttributes": {"enabled": False}})
    assert not [d for d in off if d["kind"] == "Job"]


def test_the_chart_matches_the_plain_manifests() -> None:
    """Two ways to deploy must not drift: same commands, probes, resources and config keys."""
    plain = [d for f in K8S.glob("*.yaml") for d in yaml.safe_load_all(f.read_text()) if d]
    docs = rendered()
    for component in ("worker", "intake"):
        mine = container(one(docs, "Deployment", f"desk-{component}"))
        theirs = container(one(plain, "Deployment", f"incident-desk-{component}"))
        for key in ("command", "livenessProbe", "readinessProbe", "resources", "ports"):
            assert mine[key] == theirs[key], (component, key)
        assert {e["name"] for e in mine["env"]} == {e["name"] for e in theirs["env"]}
    plain_config = set(one(plain, "ConfigMap", "incident-desk")["data"])
    assert set(one(docs, "ConfigMap", "desk")["data"]) == plain_config


def test_a_template_using_something_the_renderer_does_not_know_fails_loudly(
    tmp_path: Path,
) -> None:
    (tmp_path / "templates").mkdir()
    for name in ("Chart.yaml", "values.yaml"):
        (tmp_path / name).write_text((CHART.directory / name).read_text())
    (tmp_path / "templates" / "x.yaml").write_text("a: {{ .Values.image.repository | upper }}\n")
    with pytest.raises(TemplateError, match="'upper' is not supported"):
        Chart(tmp_path).render()
    (tmp_path / "templates" / "x.yaml").write_text("a: {{ .Values.nope }}\n")
    with pytest.raises(TemplateError, match="no key 'nope'"):
        Chart(tmp_path).render()
