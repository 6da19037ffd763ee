"""The incident custom fields and issue links of the Jira stand-in.

A Jira set up for Incident Desk (docs/jira.md, "Fields") has custom fields for the facts agents
correct and one for the next deadline; their ids differ on every instance, which is why Incident
Desk finds them by name. The stand-in offers them under ids of its own (`customfield_102xx`),
lists them in the field API, accepts them in edits and reports their changes in the webhook
changelog the way Jira Cloud does: display name in `field`, `fieldtype` "custom", the id in
`fieldId`, display strings in `fromString`/`toString`.

Issue links: the "Duplicate" link type (and Jira's other defaults), `POST /issueLink`, and the
`issuelinks` field of issues.
"""

from __future__ import annotations

from typing import Any

from sandbox.jira_render import API

# id, name, schema (as GET /field shows it)
INCIDENT_FIELDS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("customfield_10201", "Severity", {"type": "option", "custom": "select"}),
    ("customfield_10202", "Incident Type", {"type": "option", "custom": "select"}),
    ("customfield_10203", "Data Categories", {"type": "array", "items": "option"}),
    ("customfield_10204", "Records Affected", {"type": "number", "custom": "float"}),
    ("customfield_10205", "Awareness Time", {"type": "datetime", "custom": "datetime"}),
    ("customfield_10206", "Affected Jurisdictions", {"type": "array", "items": "string"}),
    ("customfield_10207", "Next Deadline", {"type": "datetime", "custom": "datetime"}),
    ("customfield_10208", "Reporter Contact", {"type": "string", "custom": "textfield"}),
    ("customfield_10209", "External Reference", {"type": "string", "custom": "textfield"}),
)
INCIDENT_FIELD_IDS = tuple(field_id for field_id, _, _ in INCIDENT_FIELDS)
_NAMES = {field_id: name for field_id, name, _ in INCIDENT_FIELDS}
_SCHEMA_PLUGIN = "com.atlassian.jira.plugin.system.customfieldtypes:"

LINK_TYPES = (
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
)


def fields_json(custom_ids: tuple[str, ...]) -> list[dict[str, Any]]:
    """The custom part of `GET /field`: the incident fields and any configured ids."""
    out = []
    for field_id in custom_ids:
        name = _NAMES.get(field_id, field_id)
        schema = dict(next((s for i, _, s in INCIDENT_FIELDS if i == field_id), {"type": "any"}))
        number = int(field_id.removeprefix("customfield_"))
        kind = schema.pop("custom", None) or "multiselect"
        out.append(
            {
                "id": field_id,
                "key": field_id,
                "name": name,
                "custom": True,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{number}]", name],
                "schema": {**schema, "custom": _SCHEMA_PLUGIN + kind, "customId": number},
            }
        )
    return out


def display(value: Any) -> str | None:
    """What Jira's changelog shows for a custom field value."""
    if value is None:
        return None
    if isinstance(value, dict):
        return str(value.get("value") or value.get("name") or "")
    if isinstance(value, list):
        return ",".join(filter(None, (display(v) for v in value)))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def field_change(field_id: str, old: Any, new: Any) -> dict[str, Any]:
    raw = new if isinstance(new, str) else None  # date-times keep their ISO form in `to`
    return {
        "field": _NAMES.get(field_id, field_id),
        "fieldtype": "custom",
        "fieldId": field_id,
        "from": old if isinstance(old, str) else None,
        "fromString": display(old),
        "to": raw,
        "toString": display(new),
    }


def link_type_json(base: str, type_id: str) -> dict[str, Any]:
    found = next(t for t in LINK_TYPES if t[0] == type_id)
    return {
        "id": found[0],
        "name": found[1],
        "inward": found[2],
        "outward": found[3],
        "self": f"{base}{API}/issueLinkType/{found[0]}",
    }


def link_type_named(name: str) -> str | None:
    return next((t[0] for t in LINK_TYPES if t[1].casefold() == name.casefold()), None)
