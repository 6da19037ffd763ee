"""Duplicate reports: a second call about an incident that is already open.

Callers ring back, a client's SOC and one of its employees report the same phishing wave, an
agent logs a chat that an e-mail already opened. A new report for the same client matches an
open incident when it comes from the same reporter contact or carries the same external
reference within the policy's window; it is then linked to that incident rather than run as a
second one (which would page on-call twice and start a second set of reporting clocks).

Matching uses Temporal visibility: each incident carries `ReportKeys`, keyed digests of its
reporter contact and external reference. Digests, because search attributes are stored in
clear in the visibility store and shown in the UI, and a reporter's phone number or e-mail is
personal data; keyed (HMAC), because a plain hash of a phone number is reversed by trying them
all. The key is scoped by client, so two clients' callers never match each other.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MatchedOn = Literal["reporter_contact", "external_reference"]
KEY_LENGTH = 32


def _normalised_contact(contact: str) -> str:
    """Phone numbers compare on their digits ("+63 917-555" = "+63917555"), the rest
    case-blind with spaces collapsed."""
    text = " ".join(contact.strip().casefold().split())
    digits = "".join(c for c in text if c.isdigit())
    if len(digits) >= 7 and all(c.isdigit() or c in " +-().ext" for c in text):
        return "tel:" + digits
    return "id:" + text


def report_key(secret: bytes, client: str, kind: MatchedOn, value: str) -> str:
    """One `ReportKeys` entry: `<kind>:<hex HMAC-SHA256>`, safe to store in visibility."""
    normal = _normalised_contact(value) if kind == "reporter_contact" else value.strip().casefold()
    digest = hmac.new(secret, f"{client}\x00{kind}\x00{normal}".encode(), hashlib.sha256)
    prefix = "rc" if kind == "reporter_contact" else "xr"
    return f"{prefix}:{digest.hexdigest()[:KEY_LENGTH]}"


def report_keys(
    secret: bytes, client: str, contact: str | None, external_ref: str | None
) -> dict[MatchedOn, str]:
    keys: dict[MatchedOn, str] = {}
    if contact and contact.strip():
        keys["reporter_contact"] = report_key(secret, client, "reporter_contact", contact)
    if external_ref and external_ref.strip():
        keys["external_reference"] = report_key(secret, client, "external_reference", external_ref)
    return keys


class DuplicateReport(BaseModel):
    """A later report linked to this incident (`record_duplicate` update). No contact details:
    the original incident already has them, and this goes into the timeline and Jira."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ref: str = Field(min_length=1, max_length=255, description="The new report's Jira key or id")
    matched_on: MatchedOn
    channel: str = Field("other", max_length=32)
    jira_key: str | None = Field(None, max_length=255, description="The new report's issue")
    by: str | None = Field(None, max_length=200, description="Who logged the new report")

    def detail(self) -> str:
        why = (
            "same reporter contact"
            if self.matched_on == "reporter_contact"
            else ("same external reference")
        )
        linked = f"; Jira issue {self.jira_key} linked as a duplicate" if self.jira_key else ""
        return f"Duplicate report {self.ref} via {self.channel} ({why}){linked}"
