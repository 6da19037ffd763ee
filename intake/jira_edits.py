"""Agents' edits of the fields that matter, read from a webhook's changelog as a facts update.

An agent who corrects the severity, the incident type, the data categories, the number of
people affected, the awareness time or the affected jurisdictions in Jira has corrected the
incident's facts: the reporting clocks must follow (`update_facts`). Fields are matched by their
display name (`JIRA_FIELDS`), or by the id the field API gives that name, never by an id fixed in
code. A value Incident Desk cannot read is refused as a whole, with the reason, so the agent
fixes it in Jira and nothing half-applies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from incidents.clocks import FactsUpdate
from incidents.facts import DataCategory
from incidents.report import Severity
from incidents.taxonomy import IncidentType
from intake.jira_payloads import Changelog, ChangelogItem
from integrations.jira_fields import JiraFieldNames

LIST_FACTS = frozenset({"data_categories", "jurisdictions"})
CHOICES: dict[str, list[str]] = {
    "severity": [s.value for s in Severity],
    "incident_type": [t.value for t in IncidentType],
    "data_categories": [c.value for c in DataCategory],
}


class EditProblem(ValueError):
    """The edit cannot become a facts update; the message says what to put in the field."""


def edited_fields(
    changelog: Changelog | None,
    names: JiraFieldNames,
    id_of: Callable[[str], str | None] = lambda name: None,
) -> dict[str, tuple[str, ChangelogItem]]:
    """Fact name → (field name, its last change) for the fields that matter in this change."""
    found: dict[str, tuple[str, ChangelogItem]] = {}
    if changelog is None:
        return found
    for fact, name in names.facts().items():
        field_id = id_of(name)
        for item in changelog.items:
            by_name = item.field.casefold() == name.casefold()
            by_id = field_id is not None and item.field_id == field_id
            if by_name or by_id:
                found[fact] = (name, item)
    return found


def _words(text: str) -> list[str]:
    """A multi-value field's change: "[EU, DE]", "EU,DE" or "EU DE" (labels-style)."""
    inner = text.strip().removeprefix("[").removesuffix("]")
    separators = "," if "," in inner else None
    return [part.strip() for part in inner.split(separators) if part.strip()]


def _slug(text: str) -> str:
    return "_".join(text.strip().casefold().replace("-", " ").split())


def _instant(item: ChangelogItem) -> datetime:
    for candidate in (item.to, item.to_string):
        if not candidate:
            continue
        text = candidate.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            return parsed
    raise ValueError("must be a date and time with its UTC offset, e.g. 2026-11-28T09:15+08:00")


def _value(fact: str, item: ChangelogItem) -> Any:
    text = (item.to_string or "").strip()
    if fact in LIST_FACTS:
        values = _words(text)
        return [_slug(v) for v in values] if fact == "data_categories" else values
    if not text and fact != "aware_at":
        raise ValueError("cannot be emptied: the incident needs a value")
    if fact == "severity":
        return "".join(text.split()).upper()
    if fact == "incident_type":
        return _slug(text)
    if fact == "records_affected":
        number = text.replace(",", "").replace("_", "").replace(" ", "")
        try:
            count = float(number)
        except ValueError:
            raise ValueError(f"'{text}' is not a number") from None
        if count != int(count) or count < 0:
            raise ValueError(f"'{text}' is not a whole number of people")
        return int(count)
    return _instant(item)


def facts_update(
    edits: dict[str, tuple[str, ChangelogItem]], *, by: str, reason: str
) -> FactsUpdate:
    """The update the edits amount to, or EditProblem naming each field and what it takes."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for fact, (name, item) in edits.items():
        try:
            values[fact] = _value(fact, item)
        except ValueError as exc:
            problems.append(f'"{name}" {exc}')
    if not problems:
        try:
            return FactsUpdate.model_validate({"by": by, "reason": reason, **values})
        except ValidationError as exc:
            fields = {fact: name for fact, (name, _) in edits.items()}
            for error in exc.errors():
                fact = str(error["loc"][0]) if error["loc"] else ""
                name = fields.get(fact, fact)
                shown = edits[fact][1].to_string if fact in edits else None
                hint = f"; use one of {', '.join(CHOICES[fact])}" if fact in CHOICES else ""
                problems.append(f'"{name}" has "{shown}", which is not valid: {error["msg"]}{hint}')
    raise EditProblem("; ".join(dict.fromkeys(problems)))
