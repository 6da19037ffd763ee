"""Reading agents' field edits from a changelog: what becomes a facts update, what is refused."""

from __future__ import annotations

import pytest

from incidents.comments import ClientJiraUsers, is_stakeholder_update
from incidents.duplicates import report_key
from intake.jira_edits import EditProblem, edited_fields, facts_update
from intake.jira_payloads import Changelog
from integrations.jira_fields import JiraFieldNames

NAMES = JiraFieldNames()


def changelog(*items: dict[str, object]) -> Changelog:
    return Changelog.model_validate({"id": "10042", "items": list(items)})


def custom(name: str, to_string: str | None, to: str | None = None) -> dict[str, object]:
    return {
        "field": name,
        "fieldtype": "custom",
        "fieldId": "customfield_1",
        "to": to,
        "toString": to_string,
    }


def update_for(*items: dict[str, object]):
    return facts_update(edited_fields(changelog(*items), NAMES), by="agent", reason="edited")


def test_fields_that_matter_become_one_facts_update() -> None:
    update = update_for(
        custom("Severity", "sev 1"),
        custom("Incident Type", "Misdirected disclosure"),
        custom("Data Categories", "[Personal, Payment card]"),
        custom("Records Affected", "1,200"),
        custom("Awareness Time", "28/Nov/26 9:15 AM", "2026-11-28T09:15:00.000+0100"),
        custom("Affected Jurisdictions", "DE,FR"),
        {"field": "summary", "toString": "ignored"},
    )
    assert update.severity == "SEV1"
    assert update.incident_type == "misdirected_disclosure"
    assert update.data_categories == ("personal", "payment_card")
    assert update.records_affected == 1200
    assert update.aware_at is not None and update.aware_at.utcoffset().total_seconds() == 3600
    assert update.jurisdictions == ("DE", "FR")


def test_names_are_configurable_and_other_fields_ignored() -> None:
    names = JiraFieldNames(severity="Priorität (Sicherheit)", incident_type=None)
    found = edited_fields(
        changelog(custom("priorität (sicherheit)", "SEV2"), custom("Incident Type", "phishing")),
        names,
    )
    assert list(found) == ["severity"]
    # The id the field API gives a renamed field also matches.
    by_id = edited_fields(
        changelog({"field": "Old name", "fieldId": "customfield_7", "toString": "SEV4"}),
        JiraFieldNames(),
        lambda name: "customfield_7" if name == "Severity" else None,
    )
    assert list(by_id) == ["severity"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (custom("Severity", "SEV9"), "use one of SEV1, SEV2, SEV3, SEV4"),
        (custom("Severity", ""), "cannot be emptied"),
        (custom("Records Affected", "about forty"), "is not a number"),
        (custom("Records Affected", "2.5"), "whole number"),
        (custom("Awareness Time", "yesterday morning"), "UTC offset"),
        (custom("Data Categories", "personal,gossip"), "use one of personal"),
        (custom("Incident Type", "alien invasion"), "phishing"),
    ],
)
def test_an_unreadable_value_is_refused_with_what_to_enter(
    item: dict[str, object], message: str
) -> None:
    with pytest.raises(EditProblem, match=message):
        update_for(item)


def test_markers_client_users_and_report_keys() -> None:
    assert is_stakeholder_update("  [UPDATE] contained", "[update]")
    assert not is_stakeholder_update("no [update] here", "[update]")
    users = ClientJiraUsers(
        accounts=("5b10ac8d82e05b22cc7d4ef5",), email_domains=("client.example",)
    )
    assert users.includes("5b10ac8d82e05b22cc7d4ef5")
    assert users.includes(None, email="Soc@Client.Example")
    assert not users.includes("someone", email="agent@bpo.example")
    one = report_key(b"k", "demo", "reporter_contact", "+63 917 555 0101")
    assert one == report_key(b"k", "demo", "reporter_contact", "+63-917-5550101")
    assert one != report_key(b"k", "other", "reporter_contact", "+63 917 555 0101")
    assert one != report_key(b"other key", "demo", "reporter_contact", "+63 917 555 0101")
    assert "917" not in one
