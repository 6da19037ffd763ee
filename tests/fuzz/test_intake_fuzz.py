"""Bad input never gets through, and never breaks the intake: hypothesis against every endpoint.

Real HTTP against the whole stack (intake, Temporal dev server, worker, sandboxes), because the
failures worth finding are in the seams: a body pydantic accepts but Temporal cannot encode, a
signature header that trips the verifier, an id that reaches a Temporal query. For each request:
no 5xx (503 only where a dependency is down, which it never is here), every 4xx says what is
wrong, and nothing invalid starts or changes a workflow — counted in Temporal, not asked of the
intake.

Bounded: `FUZZ_EXAMPLES` examples per property (default below, `python -m bench.reliability`
runs more); the number of requests sent is recorded for docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from incident_desk.stack import Stack
from integrations import pagerduty_webhooks as pd
from tests.faults.harness import (
    api_headers,
    count_workflows,
    history_lengths,
    record_figures,
    report,
    wait_until,
)
from tests.support.stacks import running_stack

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SENT: Counter[str] = Counter()

# Characters that have broken parsers, encoders and log lines before: NUL, lone surrogates
# (legal as JSON escapes, not encodable as UTF-8), bidi overrides and marks, BOM, combining
# marks, astral-plane emoji, line and paragraph separators.
NASTY = [
    "\x00", "\ud800", "\udfff", "\udbff\udfff", "\u202e", "\u200f", "\u200e", "\u2066",
    "\ufeff", "e\u0301", "\U0001f4a9", "\u2028", "\u2029", "\x7f", "\x1b[31m", "%s%n",
    "' OR 1=1 --", "${jndi:ldap://x}", "../../etc/passwd", "\\", '"',
]  # fmt: skip
nasty_text = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(max_size=20)), min_size=1, max_size=12
).map("".join)
json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=10,
)
not_json = st.one_of(
    st.binary(max_size=300).filter(lambda b: not _parses(b)),
    st.sampled_from([b"", b"{", b'{"client": "demo",}', b"[1, 2", b"\xff\xfe{}", b"NaN"]),
)


_LONE_SURROGATE = re.compile(
    r"\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}"
)


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = time.monotonic()
    with running_stack(tmp_path_factory.mktemp("fuzz-state")) as stack:
        yield stack
    record_figures(
        "fuzz",
        {
            "requests": sum(SENT.values()),
            "by_target": dict(sorted(SENT.items())),
            "examples_per_property": EXAMPLES,
            "seconds": round(time.monotonic() - started, 1),
        },
    )


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stack.settings.intake_base_url, headers=api_headers(stack), timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="module")
def incident(stack: Stack, http: httpx.Client) -> tuple[str, str]:
    """One real incident, waiting for a responder: what invalid actions must leave alone."""
    filed = http.post("/api/v1/incidents", json=report("FUZZ-TARGET"))
    assert filed.status_code == 202, filed.text
    body = filed.json()
    wait_until(
        lambda: (
            http.get(f"/api/v1/incidents/{body['incident_id']}").json().get("state") == "ESCALATED"
        ),
        30,
        "the fuzz target incident ESCALATED",
    )
    settle(stack, body["workflow_id"])
    return body["incident_id"], body["workflow_id"]


def settle(stack: Stack, workflow_id: str) -> None:
    """Wait until the incident has done what it does unprompted (its comment after the page),
    so that any later change to its history is one the fuzzed requests made."""
    seen: list[int] = []

    def quiet() -> bool:
        seen.append(history_lengths(stack.settings, [workflow_id])[workflow_id])
        return len(seen) >= 3 and seen[-1] == seen[-3]

    wait_until(quiet, 30, f"{workflow_id} quiet", poll=0.5)


def send(http: httpx.Client, target: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    SENT[target] += 1
    response = http.request(method, path, **kwargs)
    assert response.status_code < 500, (
        f"{method} {path} answered {response.status_code}: {response.text[:500]}"
    )
    return response


def detail_of(response: httpx.Response) -> str:
    """The refusal's reason; every 4xx must have one a caller can act on."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    detail = body.get("detail") if isinstance(body, dict) else None
    assert isinstance(detail, str) and len(detail) > 10, body
    return detail


# --- POST /api/v1/incidents ---------------------------------------------------------------

REQUIRED = ["client", "summary", "description", "channel", "reporter"]
TYPED = [*REQUIRED, "aware_at", "category", "severity", "external_ref", "records_affected"]


@st.composite
def invalid_reports(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A report with exactly one thing wrong, and the field a refusal must name."""
    body = report(f"FUZZ-{draw(st.integers(0, 10**9))}")
    kind = draw(st.sampled_from(["missing", "type", "long", "extra", "enum", "format"]))
    if kind == "missing":
        field = draw(st.sampled_from(REQUIRED))
        del body[field]
    elif kind == "type":
        field = draw(st.sampled_from(TYPED))
        wrong = st.one_of(st.lists(json_junk, max_size=3), st.dictionaries(nasty_text, json_junk))
        if field in ("summary", "description", "client", "category", "external_ref"):
            wrong = wrong | st.integers() | st.booleans() | st.floats(allow_nan=False)
        body[field] = draw(wrong)
    elif kind == "long":
        field, limit = draw(
            st.sampled_from([("summary", 255), ("description", 32_000), ("client", 64)])
        )
        body[field] = "x" * limit + draw(nasty_text.filter(lambda t: t.strip()))
    elif kind == "extra":
        field = draw(nasty_text.filter(lambda k: k not in body))
        body[field] = draw(json_junk)
    elif kind == "enum":
        field = draw(st.sampled_from(["channel", "severity"]))
        body[field] = draw(nasty_text.filter(lambda t: t.strip().lower() not in _ENUMS))
    else:
        field, value = draw(
            st.sampled_from(
                [
                    ("aware_at", "2026-11-28T09:15:00"),  # no offset
                    ("aware_at", "yesterday"),
                    ("external_ref", "CALL 1001"),
                    ("external_ref", "CALL-\u202e1001"),
                    ("client", "Demo Client"),
                    ("summary", "two\nlines"),
                    ("summary", "   "),
                    ("records_affected", -1),
                ]
            )
        )
        body[field] = value
    return field, body


_ENUMS = {"phone", "email", "chat", "monitoring", "walk_in", "other"} | {
    f"sev{i}" for i in range(1, 5)
}


def test_invalid_reports_are_refused_naming_the_field_and_start_nothing(
    stack: Stack, http: httpx.Client
) -> None:
    before = count_workflows(stack.settings)

    @FUZZ
    @given(case=invalid_reports())
    def check(case: tuple[str, dict[str, Any]]) -> None:
        field, body = case
        raw = json.dumps(body).encode()  # ASCII: surrogates travel as legal \\uXXXX escapes
        response = send(
            http,
            "POST /api/v1/incidents (invalid)",
            "POST",
            "/api/v1/incidents",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, response.text[:300]
        detail = detail_of(response)
        # A lone surrogate in a key is refused while parsing: then the body is what is named.
        surrogate_key = _LONE_SURROGATE.search(field.encode("ascii", "backslashreplace").decode())
        as_received = json.loads(json.dumps(field))  # escaped surrogate pairs arrive joined
        assert as_received in detail or (surrogate_key and "body:" in detail), (field, detail)

    check()
    assert count_workflows(stack.settings) == before


def test_bodies_that_are_not_json_objects_are_refused(stack: Stack, http: httpx.Client) -> None:
    before = count_workflows(stack.settings)

    @FUZZ
    @given(
        raw=st.one_of(
            not_json,
            json_junk.filter(lambda j: not isinstance(j, dict)).map(
                lambda j: json.dumps(j).encode()
            ),
        )
    )
    def check(raw: bytes) -> None:
        response = send(
            http, "POST /api/v1/incidents (not an object)", "POST", "/api/v1/incidents",
            content=raw, headers={"content-type": "application/json"},
        )  # fmt: skip
        # Bytes that are not even text (e.g. NULs, which json.loads reads as UTF-16/32) are
        # refused by FastAPI before validation: 400 "There was an error parsing the body".
        assert response.status_code in (400, 422), response.text[:300]
        detail_of(response)

    check()
    assert count_workflows(stack.settings) == before


def test_unicode_edge_cases_in_valid_reports_are_accepted_or_refused_never_a_500(
    stack: Stack, http: httpx.Client
) -> None:
    before = count_workflows(stack.settings)
    accepted: list[str] = []

    @FUZZ
    @given(
        summary=nasty_text.filter(lambda t: "\n" not in t and "\r" not in t),
        description=nasty_text,
        name=nasty_text,
        ref=st.integers(0, 10**12),
    )
    def check(summary: str, description: str, name: str, ref: int) -> None:
        body = report(
            f"U-{ref}",
            summary=summary[:255],
            description=description,
            reporter={"name": name[:200], "contact": "ext 4410"},
        )
        response = send(
            http, "POST /api/v1/incidents (unicode)", "POST", "/api/v1/incidents",
            content=json.dumps(body).encode(), headers={"content-type": "application/json"},
        )  # fmt: skip
        if response.status_code == 202:
            accepted.append(response.json()["workflow_id"])
        else:
            assert response.status_code == 422, response.text[:300]
            detail_of(response)

    check()
    assert count_workflows(stack.settings) == before + len(set(accepted))


# --- GET /api/v1/incidents/{id}, POST .../ack and .../resolve ------------------------------


def test_invalid_actions_and_ids_change_no_incident(
    stack: Stack, http: httpx.Client, incident: tuple[str, str]
) -> None:
    incident_id, workflow_id = incident
    before = count_workflows(stack.settings)
    history = history_lengths(stack.settings, [workflow_id])

    bad_actions = (
        st.one_of(
            st.fixed_dictionaries({}, optional={"note": nasty_text}),  # no `by`
            st.fixed_dictionaries(
                {"by": st.one_of(st.integers(), st.lists(nasty_text), st.none())}
            ),
            st.fixed_dictionaries({"by": st.just("")}),
            st.fixed_dictionaries({"by": nasty_text.map(lambda t: "x" * 201 + t)}),
            st.fixed_dictionaries({"by": nasty_text, "note": st.integers() | st.lists(st.none())}),
            st.fixed_dictionaries({"by": nasty_text, "channel": nasty_text.map(lambda t: "!" + t)}),
        ).map(lambda d: json.dumps(d).encode())
        | not_json
    )

    @FUZZ
    @given(verb=st.sampled_from(["ack", "resolve"]), raw=bad_actions)
    def bad_body(verb: str, raw: bytes) -> None:
        response = send(
            http, f"POST /api/v1/incidents/{{id}}/{verb} (invalid body)", "POST",
            f"/api/v1/incidents/{incident_id}/{verb}", content=raw,
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert response.status_code in (400, 422), response.text[:300]
        detail_of(response)

    @FUZZ
    @given(
        ident=st.one_of(nasty_text, st.text(alphabet="abcXYZ019._:-", min_size=1, max_size=40)),
        verb=st.sampled_from(["", "/ack", "/resolve"]),
    )
    def bad_id(ident: str, verb: str) -> None:
        method = "GET" if not verb else "POST"
        # Percent-encoded bytes, surrogates as the invalid UTF-8 a hostile client would send.
        path = "/api/v1/incidents/" + quote(ident.encode("utf-8", "surrogatepass"), safe="")
        if path.rstrip("/") == "/api/v1/incidents":
            return
        response = send(
            http, f"{method} /api/v1/incidents/{{bad id}}{verb}", method, path + verb,
            json={"by": "fuzz"} if verb else None,
        )  # fmt: skip
        if "/" in ident and response.status_code == 404:
            return  # %2F is a path separator to the router: no such route, plain "Not Found"
        detail = detail_of(response)
        if response.status_code == 404:
            assert "no incident" in detail, detail

    bad_body()
    bad_id()
    assert count_workflows(stack.settings) == before
    assert history_lengths(stack.settings, [workflow_id]) == history


# --- webhooks: forged, replayed and malformed deliveries ----------------------------------


def jira_sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def jira_created(key: str) -> dict[str, Any]:
    return {
        "webhookEvent": "jira:issue_created",
        "timestamp": 1_764_300_000_000,
        "user": {"accountId": "agent", "displayName": "Sandbox Agent"},
        "issue": {
            "id": str(abs(hash(key)) % 10**8),
            "key": key,
            "fields": {
                "summary": "Caller reports a lookalike SMS",
                "project": {"key": "SEC"},
                "issuetype": {"name": "Incident"},
                "labels": ["client-demo"],
                "status": {"name": "To Do"},
            },
        },
    }


def test_forged_and_malformed_jira_webhooks_start_nothing(stack: Stack, http: httpx.Client) -> None:
    secret = stack.settings.jira_webhook_secret.get_secret_value()
    before = count_workflows(stack.settings)
    genuine = json.dumps(jira_created("SEC-9001")).encode()

    forged_signatures = st.one_of(
        st.none(),
        nasty_text,
        st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map("sha256=".__add__),
        st.binary(max_size=16).map(lambda k: jira_sign(k.hex() or "x", genuine)),  # wrong key
        st.just(jira_sign(secret, genuine + b" ")),  # a genuine signature of another body
        st.just(jira_sign(secret, genuine).replace("sha256", "sha1")),
    )

    @FUZZ
    @given(signature=forged_signatures)
    def forged(signature: str | None) -> None:
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["x-hub-signature"] = signature.encode("utf-8", "surrogatepass").decode(
                "latin-1"
            )
        try:
            response = send(
                http, "POST /webhooks/jira (forged)", "POST", "/webhooks/jira",
                content=genuine, headers=headers,
            )  # fmt: skip
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            return  # not sendable as an HTTP header at all
        assert response.status_code == 401, response.text[:300]
        assert "X-Hub-Signature" in detail_of(response)

    @FUZZ
    @given(raw=st.one_of(not_json, json_junk.map(lambda j: json.dumps(j).encode())))
    def signed_junk(raw: bytes) -> None:
        response = send(
            http, "POST /webhooks/jira (signed junk)", "POST", "/webhooks/jira", content=raw,
            headers={"content-type": "application/json", "x-hub-signature": jira_sign(secret, raw)},
        )  # fmt: skip
        if response.status_code == 202:  # a JSON object naming an event we do not handle
            assert response.json()["outcome"] == "ignored"
        else:
            assert response.status_code == 400, response.text[:300]
            detail_of(response)

    forged()
    signed_junk()
    huge = b'{"webhookEvent": "jira:issue_created", "pad": "' + b"x" * 2_000_000 + b'"}'
    response = send(
        http, "POST /webhooks/jira (huge)", "POST", "/webhooks/jira", content=huge,
        headers={"content-type": "application/json", "x-hub-signature": jira_sign(secret, huge)},
    )  # fmt: skip
    assert response.status_code == 413 and "JIRA_WEBHOOK_MAX_BYTES" in detail_of(response)
    assert count_workflows(stack.settings) == before


def test_a_replayed_jira_delivery_starts_one_incident(stack: Stack, http: httpx.Client) -> None:
    """Jira's signature has no timestamp, so a captured delivery verifies again: what makes a
    replay harmless is idempotency (fixed workflow id), checked here."""
    secret = stack.settings.jira_webhook_secret.get_secret_value()
    before = count_workflows(stack.settings)
    body = json.dumps(jira_created("SEC-9002")).encode()
    headers = {"content-type": "application/json", "x-hub-signature": jira_sign(secret, body)}
    outcomes = []
    for delivery in ["d-1", "d-1", "d-2", None]:
        extra = {"x-atlassian-webhook-identifier": delivery} if delivery else {}
        response = send(
            http, "POST /webhooks/jira (replayed)", "POST", "/webhooks/jira", content=body,
            headers={**headers, **extra},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        outcomes.append(response.json()["outcome"])
    assert outcomes[0] == "started" and outcomes[1] == "duplicate", outcomes
    assert count_workflows(stack.settings) == before + 1


def pd_delivery(dedup_key: str, event_id: str) -> bytes:
    return json.dumps(
        {
            "event": {
                "id": event_id,
                "event_type": "incident.acknowledged",
                "resource_type": "incident",
                "occurred_at": "2026-11-28T10:00:00Z",
                "agent": {"id": "PUSER", "type": "user_reference", "summary": "Mo Responder"},
                "data": {"id": "PINC", "type": "incident", "incident_key": dedup_key},
            }
        }
    ).encode()


def test_forged_and_malformed_pagerduty_webhooks_change_nothing(
    stack: Stack, http: httpx.Client, incident: tuple[str, str]
) -> None:
    _, workflow_id = incident
    secret = stack.settings.pagerduty_webhook_secret.get_secret_value()
    before = count_workflows(stack.settings)
    history = history_lengths(stack.settings, [workflow_id])
    genuine = pd_delivery(workflow_id, "EV-FORGED")

    @FUZZ
    @given(
        signature=st.one_of(
            st.none(),
            nasty_text,
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map("v1=".__add__),
            st.binary(min_size=1, max_size=16).map(lambda k: pd.signature(genuine, k.hex())),
            st.just(pd.signature(genuine + b"\n", secret)),
            st.just(pd.signature(genuine, secret).replace("v1=", "v0=")),
        )
    )
    def forged(signature: str | None) -> None:
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers[pd.SIGNATURE_HEADER] = signature.encode("utf-8", "surrogatepass").decode(
                "latin-1"
            )
        try:
            response = send(
                http, "POST /webhooks/pagerduty (forged)", "POST", "/webhooks/pagerduty",
                content=genuine, headers=headers,
            )  # fmt: skip
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            return
        assert response.status_code == 401, response.text[:300]
        assert pd.SIGNATURE_HEADER in detail_of(response)

    @FUZZ
    @given(raw=st.one_of(not_json, json_junk.map(lambda j: json.dumps(j).encode())))
    def signed_junk(raw: bytes) -> None:
        response = send(
            http, "POST /webhooks/pagerduty (signed junk)", "POST", "/webhooks/pagerduty",
            content=raw,
            headers={"content-type": "application/json",
                     pd.SIGNATURE_HEADER: pd.signature(raw, secret)},
        )  # fmt: skip
        assert response.status_code == 400, response.text[:300]
        detail_of(response)

    forged()
    signed_junk()
    huge = b'{"event": {"event_type": "x", "pad": "' + b"x" * 300_000 + b'"}}'
    response = send(
        http, "POST /webhooks/pagerduty (huge)", "POST", "/webhooks/pagerduty", content=huge,
        headers={pd.SIGNATURE_HEADER: pd.signature(huge, secret)},
    )  # fmt: skip
    assert response.status_code == 413 and "larger" in detail_of(response)
    assert count_workflows(stack.settings) == before
    assert history_lengths(stack.settings, [workflow_id]) == history


def test_a_replayed_pagerduty_delivery_changes_the_incident_once(
    stack: Stack, http: httpx.Client
) -> None:
    """PagerDuty's v3 signature has no timestamp either: a captured acknowledgement verifies
    again, so the event id must make a replay a no-op."""
    secret = stack.settings.pagerduty_webhook_secret.get_secret_value()
    filed = http.post("/api/v1/incidents", json=report("FUZZ-PD-REPLAY")).json()
    incident_id, workflow_id = filed["incident_id"], filed["workflow_id"]
    wait_until(
        lambda: http.get(f"/api/v1/incidents/{incident_id}").json().get("state") == "ESCALATED",
        30,
        "the replay target ESCALATED",
    )
    body = pd_delivery(workflow_id, "EV-REPLAYED")
    headers = {"content-type": "application/json", pd.SIGNATURE_HEADER: pd.signature(body, secret)}
    first = send(
        http, "POST /webhooks/pagerduty (replayed)", "POST", "/webhooks/pagerduty",
        content=body, headers=headers,
    )  # fmt: skip
    assert first.status_code == 200, first.text

    def acknowledgements() -> list[dict[str, Any]]:
        timeline = http.get(f"/api/v1/incidents/{incident_id}").json()["timeline"]
        return [e for e in timeline if "acknowledged" in e["event"]]

    timeline = acknowledgements()
    assert len(timeline) == 1, timeline
    for _ in range(2):
        again = send(
            http, "POST /webhooks/pagerduty (replayed)", "POST", "/webhooks/pagerduty",
            content=body, headers=headers,
        )  # fmt: skip
        assert again.status_code < 300, again.text
    assert acknowledgements() == timeline


# --- schemathesis: the intake's own OpenAPI, every operation --------------------------------


def test_openapi_operations_never_answer_5xx(stack: Stack) -> None:
    """schemathesis cases for every operation of the intake's own /openapi.json, valid
    (positive) and invalid (negative). Valid ones may file real incidents, so this runs last.

    Driven through hypothesis directly rather than schemathesis' pytest plugin, whose
    fixture-loaded schemas do not run under this pytest version.
    """
    base = stack.settings.intake_base_url
    document = httpx.get(f"{base}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7, [f"{o.method} {o.path}" for o in operations]
    headers = api_headers(stack)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _schemathesis_check(operation, mode, base, headers)()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong (no inputs)


def _schemathesis_check(
    operation: Any, mode: GenerationMode, base: str, headers: dict[str, str]
) -> Any:
    @settings(
        max_examples=max(5, EXAMPLES // 4),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        SENT[f"schemathesis {case.method} {case.path} ({mode.value})"] += 1
        try:
            response = case.call(base_url=base, headers=headers, timeout=30)
        except (UnicodeEncodeError, ValueError):
            return  # a header value no HTTP client can send
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} answered {response.status_code}: "
            f"{response.text[:300]}"
        )
        if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
            assert response.json().get("detail"), response.text[:300]

    return check
