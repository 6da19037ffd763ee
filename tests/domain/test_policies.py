"""Client policies: the shipped examples load, round-trip through Temporal's data converter, and
every mistake is reported with the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from incidents.policy import ClientPolicy, PolicyError, load_policy
from incidents.report import Severity
from tests.domain.conftest import REPO

BASE = "id: acme\nname: Acme\n"


def test_shipped_policies_cover_the_three_examples(policies: dict[str, ClientPolicy]) -> None:
    assert {"demo", "nordlicht-bank", "cascade-health", "harbour-pine"} <= set(policies)
    bank = policies["nordlicht-bank"]
    assert {"financial", "nis2_essential"} <= set(bank.sectors)
    assert bank.escalation_for(Severity.SEV1)[0].ack_timeout.total_seconds() == 300
    assert bank.status_update_interval(Severity.SEV2).total_seconds() == 7200
    assert policies["harbour-pine"].sites == ("PH", "IN")
    assert policies["demo"].escalation_for(Severity.SEV1) == ()


def test_policies_round_trip_through_the_temporal_data_converter(
    policies: dict[str, ClientPolicy],
) -> None:
    converter = pydantic_data_converter.payload_converter
    for policy in policies.values():
        payload = converter.to_payloads([policy])
        assert converter.from_payloads(payload, [ClientPolicy]) == [policy]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("timezone: Mars/Olympus\n", "timezone"),
        ("jurisdictions: [DE, XX]\n", "jurisdictions.1"),
        ("jurisdictions: [US-ZZ]\n", "jurisdictions.0"),
        ("sites: [EU]\n", "sites.0"),
        ("sectors: [banking]\n", "sectors.0"),
        ("role: subprocessor\n", "role"),
        ("contract: {clause: DPA 9, notify_within: soon}\n", "contract.notify_within"),
        ("contract: {clause: DPA 9, notify_within: P2D, business_days: true}\n", "contract"),
        ("contract: {clause: DPA 9, notify_within: PT4H, from: lunch}\n", "contract.from"),
        ("contacts: [{name: A, email: not-an-email}]\n", "contacts.0.email"),
        ("contacts: [{name: A, email: a@b.example, phone: '555-0100'}]\n", "contacts.0.phone"),
        ("escalation: {SEV1: []}\n", "escalation"),
        ("escalation: {SEV5: [{targets: [x], ack_timeout: PT5M}]}\n", "escalation.SEV5"),
        ("escalation: {SEV1: [{targets: [x], ack_timeout: PT0S}]}\n", "escalation.SEV1.0.ack_timeout"),
        ("status_updates: {SEV1: -PT1H}\n", "status_updates.SEV1"),
        ("reminders: [PT1H, 0]\n", "reminders.1"),
        ("severity_floors: [{when: {}, at_least: SEV2, reason: x}]\n", "severity_floors.0.when"),
        ("severity_floors: [{when: {ongoing: true}, at_least: SEV0, reason: x}]\n",
         "severity_floors.0.at_least"),
        ("pager: {severity_map: {SEV1: critical}}\n", "pager.severity_map"),
        ("pager: {severity_map: {SEV1: urgent, SEV2: error, SEV3: warning, SEV4: info}}\n",
         "pager.severity_map"),
        ("card_acquirer: {country: GB}\n", "card_acquirer.timezone"),
        ("surprise: 1\n", "surprise"),
    ],
)  # fmt: skip
def test_errors_name_the_file_and_the_field(tmp_path: Path, body: str, field: str) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(BASE + body)
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert field in message


def test_a_calendar_the_holidays_package_lacks_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(
        BASE + "contract: {clause: BAA 4, notify_within: P5D, business_days: true,"
        " calendar: {country: US, subdivision: ZZ}}\n"
    )
    with pytest.raises(PolicyError, match=r"contract\.calendar: 'US' has no holiday subdivision"):
        load_policy(path)


def test_an_unreadable_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "missing.yaml")


def test_demo_keeps_its_original_lines() -> None:
    text = (REPO / "policies/clients/demo.yaml").read_text()
    for line in (
        "id: demo",
        "name: Demo Client Ltd",
        "timezone: Europe/Dublin",
        "default_severity: SEV3",
    ):
        assert line in text.splitlines()


def test_reminders_are_kept_longest_first() -> None:
    policy = ClientPolicy.model_validate(
        {"id": "x", "name": "X", "reminders": ["PT1H", "P1D", "PT1H"]}
    )
    assert [r.total_seconds() for r in policy.reminders] == [86400, 3600]
    assert json.loads(policy.model_dump_json())["reminders"] == ["P1D", "PT1H"]
