"""Routing a page to its target's pager, and the generic webhook pager's signature."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from activities.paging import Links, PageRequest, PagingActivities, PolicyRouting
from incidents.pager_routes import PagerKind, PagerRoute, PagerRouting
from incidents.policy import PolicyError, load_policy
from integrations.pagers import PageContent, PagerSet
from integrations.webhook_pager import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookPager,
    sign,
    verify_signature,
)
from tests.support.servers import run_app

REPO = Path(__file__).resolve().parents[2]
LINKS = Links(jira_url="http://jira", temporal_ui_url="http://ui")

POLICY = """
id: routed
name: Routed Ltd
escalation:
  SEV1:
    - {targets: [soc-oncall], ack_timeout: PT5M}
    - {targets: [soc-manager, client-chat], ack_timeout: PT10M}
pagers:
  targets:
    soc-oncall: {kind: opsgenie, destination: BPO SOC}
    client-chat: {kind: webhook, destination: "https://chat.example/hooks/1"}
"""


class FakePager:
    def __init__(self, kind: PagerKind) -> None:
        self.kind = kind
        self.calls: list[tuple[str, str, str | None]] = []

    async def trigger(self, page: PageContent) -> str:
        self.calls.append(("trigger", page.dedup_key, page.destination))
        return page.dedup_key

    async def acknowledge(self, dedup_key: str, destination: str | None = None) -> None:
        self.calls.append(("acknowledge", dedup_key, destination))

    async def resolve(self, dedup_key: str, destination: str | None = None) -> None:
        self.calls.append(("resolve", dedup_key, destination))

    async def aclose(self) -> None:
        pass


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    (tmp_path / "clients").mkdir()
    (tmp_path / "clients" / "routed.yaml").write_text(POLICY)
    (tmp_path / "clients" / "demo.yaml").write_text(
        (REPO / "policies" / "clients" / "demo.yaml").read_text()
    )
    return tmp_path


@pytest.fixture
def fakes() -> dict[PagerKind, FakePager]:
    return {kind: FakePager(kind) for kind in PagerKind}


def activities(policies: Path, fakes: dict[PagerKind, FakePager], client: str) -> PagingActivities:
    async def client_of(workflow_id: str) -> str | None:
        return client

    return PagingActivities(
        fakes[PagerKind.PAGERDUTY],
        LINKS,
        pagers=PagerSet(fakes),
        routing=PolicyRouting(policies),
        client_of=client_of,
    )


def request(key: str, client: str, targets: str | None) -> PageRequest:
    details = {"client": client, "severity": "SEV1", "incident_id": "x"}
    if targets is not None:
        details["targets"] = targets
    return PageRequest(
        dedup_key=key, summary="s", severity="critical", custom_details=details, workflow_id=key
    )


def test_policy_section_short_and_long_forms() -> None:
    routing = PagerRouting.model_validate(
        {"default": "opsgenie", "targets": {"a": "webhook", "b": {"kind": "pagerduty"}}}
    )
    assert routing.default == PagerRoute(kind=PagerKind.OPSGENIE)
    assert routing.routes_for(["a", "b", "a"]) == [
        PagerRoute(kind=PagerKind.WEBHOOK),
        PagerRoute(kind=PagerKind.PAGERDUTY),
    ]
    assert routing.routes_for([]) == [routing.default]


def test_a_bad_route_fails_when_the_policy_loads(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "id: bad\nname: B\npagers: {targets: {x: {kind: webhook, destination: ftp://x}}}"
    )
    with pytest.raises(PolicyError, match="http"):
        load_policy(path)
    path.write_text("id: bad\nname: B\npagers: {targets: {x: carrier-pigeon}}")
    with pytest.raises(PolicyError, match="pagers"):
        load_policy(path)


async def test_a_level_targeting_opsgenie_pages_opsgenie(
    policies: Path, fakes: dict[PagerKind, FakePager]
) -> None:
    paging = activities(policies, fakes, "routed")
    await paging.trigger_page(request("incident-routed-1", "routed", "soc-oncall"))
    assert fakes[PagerKind.OPSGENIE].calls == [("trigger", "incident-routed-1", "BPO SOC")]
    assert fakes[PagerKind.PAGERDUTY].calls == []

    await paging.trigger_page(request("incident-routed-1~L2", "routed", "soc-manager, client-chat"))
    assert fakes[PagerKind.PAGERDUTY].calls == [("trigger", "incident-routed-1~L2", None)]
    assert fakes[PagerKind.WEBHOOK].calls == [
        ("trigger", "incident-routed-1~L2", "https://chat.example/hooks/1")
    ]

    # Acknowledge and resolve reach every pager of this client (and only this client's).
    await paging.resolve_page("incident-routed-1")
    assert ("resolve", "incident-routed-1", "BPO SOC") in fakes[PagerKind.OPSGENIE].calls
    assert ("resolve", "incident-routed-1", None) in fakes[PagerKind.PAGERDUTY].calls


async def test_demo_still_pages_pagerduty_only(
    policies: Path, fakes: dict[PagerKind, FakePager]
) -> None:
    paging = activities(policies, fakes, "demo")
    await paging.trigger_page(request("incident-demo-1", "demo", None))
    await paging.acknowledge_page("incident-demo-1")
    assert fakes[PagerKind.PAGERDUTY].calls == [
        ("trigger", "incident-demo-1", None),
        ("acknowledge", "incident-demo-1", None),
    ]
    assert not fakes[PagerKind.OPSGENIE].calls and not fakes[PagerKind.WEBHOOK].calls


async def test_an_unconfigured_pager_falls_back_to_the_default(
    policies: Path, fakes: dict[PagerKind, FakePager]
) -> None:
    del fakes[PagerKind.WEBHOOK]
    paging = activities(policies, fakes, "routed")
    await paging.trigger_page(request("incident-routed-2~L2", "routed", "client-chat"))
    assert fakes[PagerKind.PAGERDUTY].calls == [("trigger", "incident-routed-2~L2", None)]


def test_signature_round_trip_and_replay_window() -> None:
    body = b'{"event":"trigger"}'
    now = int(time.time())
    header = sign(body, str(now), "s3cret")
    assert verify_signature(body, str(now), header, "s3cret")
    assert not verify_signature(body + b" ", str(now), header, "s3cret")
    assert not verify_signature(body, str(now), header, "other")
    assert not verify_signature(
        body, str(now - 3600), sign(body, str(now - 3600), "s3cret"), "s3cret"
    )
    assert verify_signature(body, str(now), f"sha256=old, {header}", "s3cret")  # rotation


async def test_webhook_pager_signature_verifies_at_a_real_receiver() -> None:
    secret = "receiver-shared-secret"
    received: list[dict] = []
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(req: Request) -> JSONResponse:
        raw = await req.body()
        ok = verify_signature(
            raw, req.headers.get(TIMESTAMP_HEADER), req.headers.get(SIGNATURE_HEADER), secret
        )
        if not ok:
            return JSONResponse({"detail": "bad signature"}, status_code=401)
        received.append({"event_id": req.headers[EVENT_ID_HEADER], **json.loads(raw)})
        return JSONResponse({"ok": True})

    page = PageContent(
        dedup_key="incident-x~L2",
        summary="[SEV1] phishing incident for demo",
        severity="critical",
        details={"incident_id": "x"},
        links=(("http://jira/browse/SEC-1", "Jira SEC-1"),),
    )
    with run_app(receiver) as url:
        async with WebhookPager(f"{url}/hook", SecretStr(secret)) as pager:
            await pager.trigger(page)
            await pager.acknowledge(page.dedup_key)
        async with WebhookPager(f"{url}/hook", SecretStr("wrong")) as pager:
            with pytest.raises(Exception, match="401"):
                await pager.resolve(page.dedup_key)
    assert [r["event"] for r in received] == ["trigger", "acknowledge"]
    assert received[0]["links"] == [{"href": "http://jira/browse/SEC-1", "text": "Jira SEC-1"}]
    assert received[1]["event_id"] == "incident-x~L2:acknowledge"
