"""The escalation plan and the page text built from it: pure rules, no Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidents import escalation, notices
from incidents.lifecycle import Action, IncidentState, IncidentView
from incidents.policy import ClientPolicy, PolicyError, load_policy

REPO = Path(__file__).resolve().parents[2]


def nordlicht() -> ClientPolicy:
    return load_policy(REPO / "policies" / "clients" / "nordlicht-bank.yaml")


def test_plan_walks_every_level_then_repeats() -> None:
    steps = escalation.plan(nordlicht(), "SEV1")
    assert [(s.round, s.level) for s in steps] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert steps[1].targets == ("bpo-soc-manager", "nordlicht-cert")
    assert steps[0].ack_timeout == timedelta(minutes=5)
    assert steps[0].label == "Level 1 of 3 (bpo-soc-oncall), round 1 of 2"
    assert (
        steps[4].timeout_summary
        == "Level 2 (bpo-soc-manager, nordlicht-cert) round 2 acknowledgement timeout"
    )


def test_repeats_are_configurable_and_zero_means_one_pass() -> None:
    policy = nordlicht().model_copy(update={"escalation_repeats": 0})
    steps = escalation.plan(policy, "SEV2")
    assert [(s.round, s.level) for s in steps] == [(1, 1), (1, 2)]
    assert steps[0].label == "Level 1 of 2 (bpo-soc-oncall)"
    assert steps[0].timeout_summary == "Level 1 (bpo-soc-oncall) acknowledgement timeout"


def test_a_severity_without_a_chain_pages_once_without_a_timeout() -> None:
    steps = escalation.plan(ClientPolicy(id="x", name="X"), "SEV3")
    assert len(steps) == 1 and steps[0].ack_timeout is None and steps[0].targets == ()


def test_policy_defaults_and_limits(tmp_path: Path) -> None:
    policy = ClientPolicy(id="x", name="X")
    assert policy.escalation_repeats == 1
    assert policy.no_responder_target == "bpo-operations-manager"
    bad = tmp_path / "clients" / "x.yaml"
    bad.parent.mkdir()
    bad.write_text("id: x\nname: X\nescalation_repeats: -1\n")
    with pytest.raises(PolicyError, match="escalation_repeats"):
        load_policy(bad)


def test_dedup_keys_are_distinct_per_level_and_round_and_keep_the_first_page() -> None:
    wf = "incident-demo-CALL-1"
    keys = [escalation.page_key(wf, s.level, s.round) for s in escalation.plan(nordlicht(), "SEV1")]
    assert keys[0] == wf
    assert keys[1] == f"{wf}~L2"
    assert keys[3] == f"{wf}~R2-L1"
    assert len(set(keys)) == len(keys)
    assert escalation.no_responder_key(wf) == f"{wf}~no-responder"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=3), "3s"),
    ],
)
def test_durations_read_short(value: timedelta, text: str) -> None:
    assert escalation.format_duration(value) == text


def test_page_text_names_the_level_and_targets_but_nobody_personal() -> None:
    view = IncidentView(
        incident_id="demo-1",
        workflow_id="incident-demo-1",
        client="demo",
        state=IncidentState.TRIAGE,
        severity="SEV1",
        category="ransomware",
        aware_at=datetime(2026, 1, 1, tzinfo=UTC),
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    step = escalation.plan(nordlicht(), "SEV1")[1]
    assert notices.step_page_summary(view, step).startswith(
        "Level 2 of 3 (bpo-soc-manager, nordlicht-cert), round 1 of 2: [SEV1] ransomware"
    )
    details = notices.step_page_details(view, step)
    assert details["escalation_level"] == "2 of 3" and details["escalation_round"] == "1 of 2"
    alert = notices.no_responder_details(view, "ops-manager", 2)
    assert alert["alert"] == "no_responder" and alert["targets"] == "ops-manager"


def test_action_channel_defaults_to_api_and_is_a_plain_name() -> None:
    assert Action(by="ana").channel == "api"
    with pytest.raises(ValueError):
        Action(by="ana", channel="Pager Duty!")


@pytest.mark.parametrize(
    "workflow_id",
    ["incident-demo-CALL-1", "incident-demo-X-R2", "incident-SEC-42", "incident-a.b:c"],
)
def test_every_page_key_maps_back_to_its_incident_only(workflow_id: str) -> None:
    keys = [
        escalation.page_key(workflow_id, s.level, s.round)
        for s in escalation.plan(nordlicht(), "SEV1")
    ]
    keys.append(escalation.no_responder_key(workflow_id))
    assert {escalation.workflow_id_from_page_key(key) for key in keys} == {workflow_id}
