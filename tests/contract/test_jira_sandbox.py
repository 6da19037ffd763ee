"""The Jira stand-in answers like Jira Cloud, as the real `jira` library and Atlassian's spec see it.

Every test drives the stand-in over a real socket with pycontribs/jira (the client production
uses), then validates each recorded request and response against the Jira Cloud platform v2
OpenAPI file, and against the Data Center 10.3 file for the routes DC also has. Error answers
are also checked against Jira's ErrorCollection shape, whatever their route.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jira
import pytest
import requests
from jira.resources import Issue

from sandbox.jira import create_app
from tests.contract.openapi_contract import (
    JIRA_CLOUD_V2,
    JIRA_DC_10_3,
    Exchange,
    ExchangeRecorder,
    assert_conform,
    validate_component,
    validate_exchange,
)
from tests.support.servers import free_port, run_app

USER, TOKEN = "agent@example.com", "s3cret-token"
REPO = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}


@dataclass
class Sandbox:
    url: str
    recorder: ExchangeRecorder
    client: jira.JIRA

    def raw(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """A request outside the library (routes it lacks, or deliberately odd ones)."""
        kwargs.setdefault("auth", (USER, TOKEN))
        kwargs.setdefault("timeout", 10)
        return requests.request(method, self.url + path, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    db = tmp_path_factory.mktemp("jira-contract") / "jira.sqlite3"
    recorder = ExchangeRecorder(
        create_app(db, user=USER, token=TOKEN), include=lambda path: path.startswith("/rest/")
    )
    with run_app(recorder) as url:
        client = jira.JIRA(server=url, basic_auth=(USER, TOKEN), max_retries=0, timeout=10)
        # The constructor's own serverInfo call can land in the recorder after it returns;
        # wait for it so that it never shows up in the first test's exchanges.
        deadline = time.monotonic() + 5
        while not recorder.exchanges and time.monotonic() < deadline:
            time.sleep(0.01)
        recorder.clear()
        yield Sandbox(url, recorder, client)
        client.close()


@pytest.fixture
def sb(sandbox: Sandbox) -> Sandbox:
    sandbox.recorder.clear()
    return sandbox


def cloud_only(exchange: Exchange) -> bool:
    """Cloud features Data Center lacks (its file rightly rejects them)."""
    return "returnIssue=true" in exchange.query


def check(sandbox: Sandbox, *, expect_routes: int = 1) -> list[Exchange]:
    """Validate (and consume) everything recorded since the test started."""
    exchanges = sandbox.recorder.take()
    assert len({(e.method, e.path) for e in exchanges}) >= expect_routes, exchanges
    assert_conform(JIRA_CLOUD_V2, exchanges)
    on_dc = [
        e for e in exchanges if JIRA_DC_10_3.has_operation(e.method, e.path) and not cloud_only(e)
    ]
    assert_conform(JIRA_DC_10_3, on_dc)
    check_error_shapes(exchanges)
    return exchanges


def check_error_shapes(exchanges: list[Exchange]) -> None:
    for exchange in exchanges:
        if exchange.status >= 400:
            content_type = exchange.response_header("content-type") or ""
            assert content_type.startswith("application/json"), str(exchange)
            problems = validate_component(JIRA_CLOUD_V2, "ErrorCollection", exchange.json())
            assert not problems, (str(exchange), problems)


def new_issue(client: jira.JIRA, summary: str = "Phishing report", **extra: object) -> Issue:
    fields = {
        "project": {"key": "SEC"},
        "issuetype": {"name": "Incident"},
        "summary": summary,
        "description": "Caller reports a suspicious e-mail.",
        **extra,
    }
    return client.create_issue(fields=fields)


# -- metadata ------------------------------------------------------------------------------------


def test_server_info_makes_the_library_use_cloud_behaviour(sb: Sandbox) -> None:
    client = jira.JIRA(server=sb.url, basic_auth=(USER, TOKEN), max_retries=0, timeout=10)
    info = client.server_info()
    assert info["deploymentType"] == "Cloud"
    assert client._is_cloud  # decides which search endpoint the library calls
    assert info["baseUrl"] == sb.url
    client.close()
    check(sb)


def test_myself_fields_project_and_types(sb: Sandbox) -> None:
    client = sb.client
    me = client.myself()
    assert me["displayName"] == USER and me["accountId"]
    field_ids = {f["id"] for f in client.fields()}
    assert {"summary", "description", "status", "labels", "comment", "created"} <= field_ids
    project = client.project("SEC")
    assert (project.key, project.id) == ("SEC", "10000")
    assert client.project("10000").key == "SEC"
    assert [p.key for p in client.projects()] == ["SEC"]
    assert client.issue_type_by_name("Incident", project="SEC").id == "10001"
    assert [t.name for t in client.issue_types()] == ["Incident", "Sub-task"]
    assert [s.name for s in client.statuses()] == [
        "To Do", "In Progress", "Done", "Validated", "False Alarm", "Contained", "Resolved",
        "Closed",
    ]  # fmt: skip
    check(sb, expect_routes=7)


# -- issues --------------------------------------------------------------------------------------


def test_create_read_edit_and_delete_an_issue(sb: Sandbox) -> None:
    client = sb.client
    issue = new_issue(client, labels=["phishing", "tier-1"])
    assert issue.key.startswith("SEC-") and issue.id.isdigit()
    fields = issue.fields
    assert fields.summary == "Phishing report"
    assert fields.status.name == "To Do" and fields.status.statusCategory.key == "new"
    assert fields.issuetype.name == "Incident" and fields.project.key == "SEC"
    assert fields.labels == ["phishing", "tier-1"]
    assert fields.created.endswith("+0000") and fields.resolution is None

    # The library's own name look-ups (project by key, issue type by name) work too.
    other = client.create_issue(project="SEC", summary="Lost laptop", issuetype="Incident")
    assert other.fields.description is None

    issue.update(fields={"summary": "Phishing report (confirmed)", "labels": ["phishing"]})
    assert issue.fields.summary == "Phishing report (confirmed)"
    issue.update(update={"labels": [{"add": "escalated"}, {"remove": "phishing"}]})
    assert issue.fields.labels == ["escalated"]

    some = client.issue(issue.key, fields="summary,status")
    assert set(some.raw["fields"]) == {"summary", "status"}
    by_id = client.issue(issue.id)
    assert by_id.key == issue.key

    returned = sb.raw(
        "PUT",
        f"/rest/api/2/issue/{issue.key}",
        params={"returnIssue": "true"},
        json={"fields": {"description": "Updated."}},
    )
    assert returned.status_code == 200 and returned.json()["fields"]["description"] == "Updated."

    # pycontribs sends deleteSubtasks=False (a Python bool); the spec allows only true/false.
    deleted = sb.raw("DELETE", f"/rest/api/2/issue/{other.key}", params={"deleteSubtasks": "false"})
    assert deleted.status_code == 204
    with pytest.raises(jira.JIRAError) as gone:
        client.issue(other.key)
    assert gone.value.status_code == 404
    check(sb, expect_routes=5)


def test_transitions(sb: Sandbox) -> None:
    client = sb.client
    issue = new_issue(client)
    offered = {t["name"]: t for t in client.transitions(issue.key)}
    assert set(offered) == {
        "In Progress", "Done", "Validated", "False Alarm", "Contained", "Resolved", "Closed",
    }  # fmt: skip
    assert offered["Done"]["id"] == "31" and offered["Done"]["to"]["name"] == "Done"
    assert [t["id"] for t in client.transitions(issue.key, id="21")] == ["21"]

    # By name the library sends the id as the string it received, which the spec requires.
    client.transition_issue(issue.key, "In Progress", comment="Picked up by the SOC.")
    assert client.issue(issue.key).fields.status.name == "In Progress"
    client.transition_issue(issue.key, "Done")
    done = client.issue(issue.key)
    assert done.fields.status.statusCategory.key == "done"
    assert done.fields.resolution.name == "Done" and done.fields.resolutiondate
    assert [c.body for c in client.comments(issue.key)] == ["Picked up by the SOC."]

    client.transition_issue(issue.key, "To Do")
    reopened = client.issue(issue.key)
    assert reopened.fields.resolution is None and reopened.fields.status.id == "10000"
    check(sb, expect_routes=3)


def test_comments(sb: Sandbox) -> None:
    client = sb.client
    issue = new_issue(client)
    first = client.add_comment(issue.key, "Triage started.")
    second = client.add_comment(issue.key, "Client notified.")
    assert int(second.id) > int(first.id)
    assert [c.body for c in client.comments(issue.key)] == ["Triage started.", "Client notified."]
    newest = client.comments(issue.key, order_by="-created", max_results=1)
    assert [c.id for c in newest] == [second.id]
    assert client.comment(issue.key, first.id).author.displayName == USER
    assert client.issue(issue.key).fields.comment.total == 2
    check(sb, expect_routes=4)


def test_a_second_user_acts_as_itself(sb: Sandbox) -> None:
    # Tests act as a person in Jira, distinct from the account Incident Desk uses.
    agent = jira.JIRA(server=sb.url, basic_auth=("agent", "agent"), max_retries=0, timeout=10)
    assert agent.myself()["displayName"] == "Sandbox Agent"
    issue = new_issue(agent)
    agent.add_comment(issue.key, "Logged during the call.")
    read = sb.client.issue(issue.key)
    assert read.fields.reporter.displayName == "Sandbox Agent"
    assert read.fields.comment.comments[0].author.displayName == "Sandbox Agent"
    assert sb.client.myself()["displayName"] == USER
    agent.close()
    check(sb, expect_routes=4)


def test_issue_properties(sb: Sandbox) -> None:
    client = sb.client
    issue = new_issue(client)
    created = client.add_issue_property(issue.key, "incident-desk", {"workflowId": "wf-1"})
    assert created.status_code == 201
    replaced = client.add_issue_property(issue.key, "incident-desk", {"workflowId": "wf-2"})
    assert replaced.status_code == 200
    assert client.issue_property(issue.key, "incident-desk").raw["value"] == {"workflowId": "wf-2"}
    assert [p.key for p in client.issue_properties(issue.key)] == ["incident-desk"]
    with_props = client.issue(issue.key, properties="incident-desk")
    assert with_props.raw["properties"] == {"incident-desk": {"workflowId": "wf-2"}}

    path = f"/rest/api/2/issue/{issue.key}/properties/incident-desk"
    assert sb.raw("DELETE", path).status_code == 204
    assert sb.raw("GET", path).status_code == 404
    assert sb.raw("DELETE", path).status_code == 404
    check(sb, expect_routes=4)


# -- search --------------------------------------------------------------------------------------


def test_search_supports_the_gateway_queries(sb: Sandbox) -> None:
    client = sb.client
    marked = new_issue(client, labels=["wf-label-1"])
    client.add_issue_property(marked.key, "incident-desk", {"workflowId": "incident-acme-42"})
    new_issue(client, labels=["other"])

    by_property = client.search_issues(
        'issue.property[incident-desk].workflowId = "incident-acme-42"'
    )
    assert [i.key for i in by_property] == [marked.key]
    by_label = client.search_issues('project = SEC AND labels = "wf-label-1" ORDER BY created ASC')
    assert [i.key for i in by_label] == [marked.key]
    assert [i.key for i in client.search_issues(f"key = {marked.key}")] == [marked.key]
    assert list(client.search_issues('project = SEC AND labels = "nobody"')) == []

    slim = client.search_issues(f"key = {marked.key}", fields="status", properties="incident-desk")
    assert set(slim[0].raw["fields"]) == {"status"}
    assert slim[0].raw["properties"] == {"incident-desk": {"workflowId": "incident-acme-42"}}
    posted = sb.raw(
        "POST",
        "/rest/api/2/search/jql",
        json={"jql": f"key = {marked.key}", "fields": ["labels"], "maxResults": 5},
    )
    assert posted.status_code == 200
    assert [(i["key"], i["fields"]) for i in posted.json()["issues"]] == [
        (marked.key, {"labels": ["wf-label-1"]})
    ]

    exchanges = check(sb, expect_routes=1)
    assert {e.path for e in exchanges if "search" in e.path} == {"/rest/api/2/search/jql"}


def test_search_narrowing_keeps_jql_semantics(sb: Sandbox) -> None:
    """The store narrows searches in SQL; the answers must stay those of the exact match."""
    client = sb.client
    counted = new_issue(client, labels=["wf-1"])
    client.add_issue_property(counted.key, "incident-desk", {"level": 2, "open": True})
    lookalike = new_issue(client, labels=["wf-10"])
    client.add_issue_property(lookalike.key, "incident-desk", {"level": "2x", "open": False})

    def keys(jql: str) -> list[str]:
        return [i.key for i in client.search_issues(jql)]

    assert keys("issue.property[incident-desk].level = 2") == [counted.key]
    assert keys("issue.property[incident-desk].open = true") == [counted.key]
    assert keys('issue.property[incident-desk].level = "2x"') == [lookalike.key]
    assert keys('project = SEC AND labels = "wf-1"') == [counted.key]  # not wf-10
    check(sb, expect_routes=2)


def test_search_pages_with_next_page_token(sb: Sandbox) -> None:
    client = sb.client
    keys = [new_issue(client, labels=["paged"]).key for _ in range(3)]
    jql = 'project = SEC AND labels = "paged" ORDER BY created ASC'
    first = client.enhanced_search_issues(jql, maxResults=2)
    assert [i.key for i in first] == keys[:2] and first.nextPageToken
    rest = client.enhanced_search_issues(jql, maxResults=2, nextPageToken=first.nextPageToken)
    assert [i.key for i in rest] == keys[2:] and rest.nextPageToken is None
    everything = client.enhanced_search_issues(jql, maxResults=False)
    assert [i.key for i in everything] == keys
    newest_first = client.search_issues('project = SEC AND labels = "paged" ORDER BY created DESC')
    assert [i.key for i in newest_first] == keys[::-1]
    check(sb)


def test_retired_search_endpoint_answers_gone_like_jira_cloud(sb: Sandbox) -> None:
    response = sb.raw("GET", "/rest/api/2/search", params={"jql": "project = SEC"})
    assert response.status_code == 410
    assert "search/jql" in response.json()["errorMessages"][0]
    (exchange,) = sb.recorder.take()
    # The spec still lists the endpoint (deprecated) and predates its removal, so only the
    # request side and the error shape can be checked.
    assert validate_exchange(JIRA_CLOUD_V2, exchange, response=False) == []
    check_error_shapes([exchange])


@pytest.mark.parametrize(
    "jql",
    [
        "status = Done",
        'project = SEC OR labels = "x"',
        'labels != "x"',
        'summary ~ "phish"',
        "project in (SEC)",
        "ORDER BY created",
        'labels = "x" ORDER BY priority',
        'labels = "unterminated',
    ],
)
def test_unsupported_jql_is_refused_clearly(sb: Sandbox, jql: str) -> None:
    with pytest.raises(jira.JIRAError) as refused:
        sb.client.search_issues(jql)
    assert refused.value.status_code == 400
    assert refused.value.text
    check(sb)


def test_jql_on_unknown_project_or_key_is_refused_like_jira(sb: Sandbox) -> None:
    for jql, message in [
        ('project = NOPE AND labels = "x"', "does not exist for the field 'project'"),
        ("key = SEC-99999", "does not exist for field 'key'"),
    ]:
        with pytest.raises(jira.JIRAError) as refused:
            sb.client.search_issues(jql)
        assert refused.value.status_code == 400 and message in refused.value.text
    check(sb)


# -- errors --------------------------------------------------------------------------------------


def test_create_validates_like_jira(sb: Sandbox) -> None:
    cases: list[tuple[dict[str, object], set[str]]] = [
        ({"project": {"key": "SEC"}, "issuetype": {"name": "Incident"}}, {"summary"}),
        ({"issuetype": {"name": "Incident"}, "summary": "s"}, {"project"}),
        ({"project": {"key": "SEC"}, "summary": "s"}, {"issuetype"}),
        (
            {"project": {"key": "NOPE"}, "issuetype": {"name": "Incident"}, "summary": "s"},
            {"project"},
        ),
        ({"project": {"key": "SEC"}, "issuetype": {"name": "Bug"}, "summary": "s"}, {"issuetype"}),
        (
            {"project": {"key": "SEC"}, "issuetype": {"name": "Incident"}, "summary": "a\nb"},
            {"summary"},
        ),
        (
            {"project": {"key": "SEC"}, "issuetype": {"name": "Incident"}, "summary": "x" * 256},
            {"summary"},
        ),
        (
            {
                "project": {"key": "SEC"},
                "issuetype": {"name": "Incident"},
                "summary": "s",
                "labels": ["a b"],
            },
            {"labels"},
        ),
        (
            {
                "project": {"key": "SEC"},
                "issuetype": {"name": "Incident"},
                "summary": "s",
                "status": {"name": "Done"},
            },
            {"status"},
        ),
    ]
    for fields, named in cases:
        response = sb.raw("POST", "/rest/api/2/issue", json={"fields": fields})
        assert response.status_code == 400, fields
        assert set(response.json()["errors"]) == named, response.json()
    malformed = sb.raw("POST", "/rest/api/2/issue", data=b"{not json", headers=JSON)
    assert malformed.status_code == 400
    exchanges = sb.recorder.take()
    # The malformed body is our own deliberate mistake; everything else must conform.
    assert_conform(JIRA_CLOUD_V2, exchanges[:-1])
    check_error_shapes(exchanges)


def test_not_found_and_bad_requests_use_jira_error_shape(sb: Sandbox) -> None:
    client = sb.client
    issue = new_issue(client)
    with pytest.raises(jira.JIRAError) as missing:
        client.issue("SEC-99999")
    assert missing.value.status_code == 404
    assert "does not exist" in missing.value.text
    with pytest.raises(jira.JIRAError) as no_project:
        client.project("NOPE")
    assert no_project.value.status_code == 404
    with pytest.raises(jira.JIRAError) as bad_transition:
        client.transition_issue(issue.key, "Reopened")  # no such transition name: library error
    assert "Invalid transition name" in str(bad_transition.value.text)
    path = f"/rest/api/2/issue/{issue.key}"
    for method, suffix, body, status in [
        ("POST", "/transitions", {"transition": {"id": "99"}}, 400),
        ("POST", "/transitions", {"fields": {}}, 400),
        ("POST", "/comment", {"body": "  "}, 400),
        ("PUT", "", {"fields": {"priority": {"name": "High"}}}, 400),
        ("PUT", "", {"fields": {"summary": ""}}, 400),
        ("GET", "/properties/nothing", None, 404),
        ("GET", "/comment/1", None, 404),
    ]:
        response = sb.raw(method, path + suffix, json=body)
        assert response.status_code == status, (method, suffix, response.text)
    check(sb)
    unknown = sb.raw("GET", "/rest/api/2/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["errorMessages"]
    check_error_shapes(sb.recorder.take())


def test_authentication_is_required(sb: Sandbox) -> None:
    for auth in [None, (USER, "wrong"), ("someone", TOKEN)]:
        response = sb.raw("GET", "/rest/api/2/myself", auth=auth)
        assert response.status_code == 401
        assert response.json()["errorMessages"]
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    with pytest.raises(jira.JIRAError) as refused:
        jira.JIRA(server=sb.url, basic_auth=(USER, "wrong"), max_retries=0, timeout=10)
    assert refused.value.status_code == 401
    exchanges = sb.recorder.take()
    assert_conform(JIRA_CLOUD_V2, exchanges)
    check_error_shapes(exchanges)
    # The DC file requires basic auth on every operation, so its security check must flag the
    # anonymous request: evidence that request validation is not vacuous.
    anonymous = exchanges[0]
    assert anonymous.request_header("authorization") is None
    assert any("Security" in p for p in validate_exchange(JIRA_DC_10_3, anonymous))
    assert validate_exchange(JIRA_DC_10_3, anonymous, request=False) == []


# -- the validator itself catches deviations -----------------------------------------------------


def test_the_validator_catches_a_deviating_issue(sb: Sandbox) -> None:
    issue = new_issue(sb.client)
    sb.recorder.clear()
    sb.client.issue(issue.key)
    (exchange,) = sb.recorder.take()
    assert validate_exchange(JIRA_CLOUD_V2, exchange) == []

    def mutated(change: object) -> Exchange:
        body = copy.deepcopy(exchange.json())
        change(body)  # type: ignore[operator]
        return Exchange(**{**vars(exchange), "response_body": json.dumps(body).encode()})

    deviations = {
        "numeric id": lambda b: b.update(id=int(b["id"])),
        "unknown top-level key": lambda b: b.update(issueKey=b["key"]),
        "fields not an object": lambda b: b.update(fields=[]),
    }
    for name, change in deviations.items():
        assert validate_exchange(JIRA_CLOUD_V2, mutated(change)), name
    emptied = Exchange(**{**vars(exchange), "response_body": b""})
    assert validate_exchange(JIRA_CLOUD_V2, emptied), "an empty 200 issue must not pass"


def test_the_validator_catches_a_deviating_comment(sb: Sandbox) -> None:
    issue = new_issue(sb.client)
    sb.recorder.clear()
    sb.client.add_comment(issue.key, "Checked.")
    (exchange,) = sb.recorder.take()
    assert validate_exchange(JIRA_CLOUD_V2, exchange) == []
    good = exchange.json()
    for name, change in {
        "non-Jira timestamp": {"created": "28/11/2026 22:45"},
        "date without time": {"updated": "2026-11-28"},
        "numeric id": {"id": int(good["id"])},
        "body as document": {"body": {"type": "doc", "content": []}},  # v3 (ADF) style
        "author with unknown key": {"author": {**good["author"], "username": "agent"}},
    }.items():
        deviating = Exchange(
            **{**vars(exchange), "response_body": json.dumps(good | change).encode()}
        )
        assert validate_exchange(JIRA_CLOUD_V2, deviating), name


def test_the_validator_catches_deviating_server_info_and_library_quirks(sb: Sandbox) -> None:
    assert sb.raw("GET", "/rest/api/2/serverInfo").status_code == 200
    (info,) = sb.recorder.take()
    body = info.json() | {"defaultLocale": {"locale": "en_US"}}  # ServerInformation is closed
    bad_info = Exchange(**{**vars(info), "response_body": json.dumps(body).encode()})
    assert validate_exchange(JIRA_CLOUD_V2, bad_info)

    # pycontribs/jira sends a transition id given as digits as a JSON number. Jira (and the
    # stand-in) accept it; the spec types it as a string, and the validator says so.
    issue = new_issue(sb.client)
    sb.recorder.clear()
    sb.client.transition_issue(issue.key, "31")
    (transition,) = [e for e in sb.recorder.take() if e.method == "POST"]
    assert json.loads(transition.request_body)["transition"]["id"] == 31
    assert any("transition/id" in p for p in validate_exchange(JIRA_CLOUD_V2, transition))
    assert sb.client.issue(issue.key).fields.status.name == "Done"

    # With use_post=True the library sends "expand": null and "properties": null, which the
    # spec does not allow (Jira ignores them). The gateway searches with GET.
    sb.recorder.clear()
    found = sb.client.search_issues(f"key = {issue.key}", use_post=True)
    assert [i.key for i in found] == [issue.key]
    (search,) = [e for e in sb.recorder.take() if e.path.endswith("/search/jql")]
    problems = validate_exchange(JIRA_CLOUD_V2, search)
    assert problems and all("request" in p for p in problems), problems


def test_the_spec_patches_are_narrow() -> None:
    # Unrelated DC schemas keep their constraints after the DC patches.
    assert validate_component(JIRA_DC_10_3, "IssueBean", {"fields": {"summary": "ok"}}) == []
    assert validate_component(JIRA_DC_10_3, "IssueBean", {"id": 1})
    assert validate_component(JIRA_DC_10_3, "FieldBean", {"id": 7})
    # The date-time relaxation adds Jira's offset style and nothing else.
    stamp = "2026-11-28T22:45:16.000+0000"
    assert validate_component(JIRA_CLOUD_V2, "Comment", {"created": stamp}) == []
    for bad in ["2026-11-28T22:45:16+0000", "2026-11-28 22:45:16.000+0000", "yesterday"]:
        assert validate_component(JIRA_CLOUD_V2, "Comment", {"created": bad}), bad


# -- sandbox-only routes -------------------------------------------------------------------------


def test_sandbox_issue_listing(sb: Sandbox) -> None:
    issue = new_issue(sb.client, labels=["listed"])
    sb.client.add_comment(issue.key, "Noted.")
    sb.client.add_issue_property(issue.key, "incident-desk", {"workflowId": "wf-list"})
    listing = requests.get(f"{sb.url}/sandbox/issues", timeout=10)
    assert listing.status_code == 200
    (entry,) = [i for i in listing.json() if i["key"] == issue.key]
    assert entry["summary"] == "Phishing report" and entry["status"] == "To Do"
    assert entry["labels"] == ["listed"]
    assert entry["properties"] == {"incident-desk": {"workflowId": "wf-list"}}
    assert [c["body"] for c in entry["comments"]] == ["Noted."]


def test_fault_injection(sb: Sandbox) -> None:
    faults = f"{sb.url}/sandbox/faults"
    added = requests.post(
        faults,
        json={"status": 503, "count": 2, "retry_after": 1, "path": "/rest/api/2/myself"},
        timeout=10,
    )
    assert added.status_code == 201
    for _ in range(2):
        response = sb.raw("GET", "/rest/api/2/myself")
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert sb.raw("GET", "/rest/api/2/serverInfo").status_code == 200  # other paths unaffected
    assert sb.raw("GET", "/rest/api/2/myself").status_code == 200  # count used up
    assert requests.get(faults, timeout=10).json() == []

    requests.post(faults, json={"status": 429, "method": "POST"}, timeout=10)
    assert sb.raw("GET", "/rest/api/2/myself").status_code == 200
    assert requests.get(faults, timeout=10).json()[0]["remaining"] == 1
    assert requests.delete(faults, timeout=10).status_code == 204
    assert requests.get(faults, timeout=10).json() == []

    requests.post(faults, json={"delay": 0.3}, timeout=10)
    started = time.monotonic()
    assert sb.raw("GET", "/rest/api/2/myself").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert requests.post(faults, json={"count": 1}, timeout=10).status_code == 400
    check_error_shapes(sb.recorder.take())


def test_command_line_entry_point(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    db = tmp_path / "cli.sqlite3"
    command = [sys.executable, "-m", "sandbox.jira", "--port", str(port), "--db", str(db)]
    command += ["--project", "OPS", "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/sandbox/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, "the sandbox exited early"
            assert time.monotonic() < deadline, "the sandbox did not come up"
            time.sleep(0.05)
        client = jira.JIRA(
            server=f"http://127.0.0.1:{port}", basic_auth=("sandbox", "sandbox"), max_retries=0
        )
        created = client.create_issue(
            fields={"project": {"key": "OPS"}, "issuetype": {"name": "Incident"}, "summary": "cli"}
        )
        assert created.key == "OPS-1"
        client.close()
    finally:
        process.terminate()
        process.wait(10)
