"""A client policy naming its own Temporal namespace: validated, mapped, and set up per namespace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from incident_desk.namespaces import Namespaces
from incidents.policy import PolicyError, load_policies, load_policy

REPO = Path(__file__).resolve().parents[2]


def write(directory: Path, client: str, extra: str = "") -> Path:
    path = directory / "clients" / f"{client}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"id: {client}\nname: {client} Ltd\n{extra}")
    return path


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Nordlicht", "not a Temporal namespace name"),
        ("nord_licht", "not a Temporal namespace name"),
        ("-nord", "not a Temporal namespace name"),
        ("n", "not a Temporal namespace name"),
        ("a" * 40, "not a Temporal namespace name"),
        ("temporal-system", "Temporal's own namespace"),
    ],
)
def test_an_invalid_namespace_is_refused_naming_file_and_field(
    tmp_path: Path, name: str, why: str
) -> None:
    path = write(tmp_path, "nord", f"temporal:\n  namespace: '{name}'\n")
    with pytest.raises(PolicyError) as refused:
        load_policy(path)
    assert str(refused.value).startswith(f"{path}: temporal.namespace: ")
    assert why in str(refused.value)


def test_valid_names_include_a_temporal_cloud_namespace_id(tmp_path: Path) -> None:
    for name in ("nordlicht", "nord-licht-2", "nordlicht.a1b2c"):
        path = write(tmp_path, "nord", f"temporal: {{namespace: {name}}}\n")
        assert load_policy(path).temporal.namespace == name
    assert load_policy(write(tmp_path, "plain")).temporal.namespace is None


def test_clients_map_to_their_namespace_and_the_rest_to_the_default(tmp_path: Path) -> None:
    write(tmp_path, "alpha")
    write(tmp_path, "nord", "temporal: {namespace: nord-ns}\n")
    write(tmp_path, "zed", "temporal: {namespace: nord-ns}\n")
    write(tmp_path, "bank", "temporal: {namespace: bank-ns}\n")
    namespaces = Namespaces("default", load_policies(tmp_path))
    assert namespaces.of("alpha") == "default" and namespaces.of(None) == "default"
    assert namespaces.of("unknown") == "default"
    assert namespaces.of("nord") == namespaces.of("zed") == "nord-ns"
    assert namespaces.all() == ["default", "bank-ns", "nord-ns"]
    assert namespaces.for_clients(["nord", "alpha"]) == ["default", "nord-ns"]
    assert namespaces.separated
    assert not Namespaces("default", {"alpha": load_policies(tmp_path)["alpha"]}).separated


def test_a_broken_policy_does_not_hide_the_other_namespaces(tmp_path: Path) -> None:
    write(tmp_path, "nord", "temporal: {namespace: nord-ns}\n")
    write(tmp_path, "broken", "temporal: {namespace: Not_Valid}\n")
    assert Namespaces.from_dir("prod", tmp_path).all() == ["prod", "nord-ns"]


def test_print_commands_covers_every_namespace_in_use(tmp_path: Path) -> None:
    write(tmp_path, "alpha")
    write(tmp_path, "nord", "temporal: {namespace: nord-ns}\n")
    env = {**os.environ, "INCIDENT_DESK_POLICIES_DIR": str(tmp_path), "TEMPORAL_NAMESPACE": "ops"}
    env.pop("INCIDENT_DESK_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "incident_desk.cli", "temporal", "register-search-attributes",
         "--print-commands"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    per_namespace = {
        ns: [line for line in lines if f"--namespace {ns} " in line] for ns in ("ops", "nord-ns")
    }
    assert len(per_namespace["ops"]) == len(per_namespace["nord-ns"]) > 0
    assert len(lines) == 2 * len(per_namespace["ops"])
