"""Webhooks the Jira stand-in sends itself, the way Jira Cloud sends admin webhooks.

Tests of the Jira path must exercise what production receives: Jira POSTs a JSON event when an
issue is created, edited, transitioned or commented on, signed with the webhook's secret
(`X-Hub-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`) and carrying
`X-Atlassian-Webhook-Identifier` (unique per delivery, the same on every retry of it),
`X-Atlassian-Webhook-Retry` and `X-Atlassian-Webhook-Flow` (see ../shared/specs/README.md,
section 6). Payload shapes follow the examples in ../shared/specs/jira-webhook-examples.

Delivery is asynchronous, as in Jira: the REST call that caused the event returns at once and a
background thread per registered webhook POSTs its events in order, retrying the statuses Jira
Cloud retries (408, 409, 425, 429, 5xx) and connection failures a few times with a short
back-off. Every delivery is recorded with its exact bytes and headers, so a test can replay one
to check that the receiver deduplicates. Registrations and the record live in memory: the ones
given on the command line come back after a restart, the ones added over HTTP do not.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, HttpUrl, field_validator

from sandbox.jira_render import SandboxConfig, comment_json, issue_json, user_json
from sandbox.jira_store import Comment, Issue, Status

log = logging.getLogger("sandbox.jira.webhooks")

EVENTS = frozenset(
    {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
    }
)
# What Jira Cloud retries; other answers are final.
RETRY_STATUSES = frozenset({408, 409, 425, 429})
USER_AGENT = "Atlassian Webhook HTTP Client (Incident Desk Jira sandbox)"


class WebhookRegistration(BaseModel):
    """`POST /sandbox/webhooks`: where to send events, how to sign them, which ones."""

    url: HttpUrl
    secret: str | None = Field(None, min_length=1, max_length=4096)
    events: list[str] | None = Field(None, description="Event names; all of them when omitted")

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = sorted(set(value) - EVENTS)
            if unknown:
                raise ValueError(
                    f"unknown event(s) {', '.join(unknown)}; known: {', '.join(sorted(EVENTS))}"
                )
        return value


@dataclass(frozen=True)
class Webhook:
    id: int
    url: str
    secret: str | None = field(repr=False)
    events: frozenset[str] | None

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "signed": self.secret is not None,
            "events": sorted(self.events) if self.events is not None else sorted(EVENTS),
        }


@dataclass
class Attempt:
    retry: int
    at: datetime
    status: int | None
    error: str | None


@dataclass
class Delivery:
    identifier: str
    webhook_id: int
    url: str
    event: str
    issue_key: str | None
    body: bytes
    headers: dict[str, str]
    created: datetime
    state: Literal["pending", "delivered", "failed"] = "pending"
    attempts: list[Attempt] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "identifier": self.identifier,
            "webhook_id": self.webhook_id,
            "url": self.url,
            "event": self.event,
            "issue_key": self.issue_key,
            "state": self.state,
            "created": self.created.isoformat(),
            "attempts": [
                {
                    "retry": a.retry,
                    "at": a.at.isoformat(),
                    "status": a.status,
                    "error": a.error,
                }
                for a in self.attempts
            ],
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8"),
        }


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class _Channel:
    """One webhook's ordered outbox and the thread that empties it."""

    def __init__(self, sender: WebhookSender, webhook: Webhook) -> None:
        self.webhook = webhook
        self.queue: queue.Queue[Delivery | None] = queue.Queue()
        self.thread = threading.Thread(
            target=self._run, args=(sender,), name=f"jira-webhook-{webhook.id}", daemon=True
        )
        self.thread.start()

    def _run(self, sender: WebhookSender) -> None:
        with httpx.Client(timeout=sender.timeout, trust_env=False) as http:
            while True:
                delivery = self.queue.get()
                if delivery is None:
                    return
                sender.deliver(http, delivery)


class WebhookSender:
    """Registered webhooks, their outboxes, and the record of every delivery."""

    def __init__(
        self,
        *,
        attempts: int = 4,
        backoff_seconds: float = 0.25,
        timeout: float = 5.0,
        keep: int = 1000,
    ) -> None:
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.timeout = timeout
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._channels: dict[int, _Channel] = {}
        self._deliveries: deque[Delivery] = deque(maxlen=keep)
        self._closing = threading.Event()

    # -- registrations ---------------------------------------------------------------------------

    def register(
        self, url: str, secret: str | None = None, events: Iterable[str] | None = None
    ) -> Webhook:
        webhook = Webhook(
            id=next(self._ids),
            url=url,
            secret=secret,
            events=frozenset(events) if events is not None else None,
        )
        with self._lock:
            self._channels[webhook.id] = _Channel(self, webhook)
        return webhook

    def unregister(self, webhook_id: int) -> bool:
        with self._lock:
            channel = self._channels.pop(webhook_id, None)
        if channel is None:
            return False
        channel.queue.put(None)
        return True

    def webhooks(self) -> list[Webhook]:
        with self._lock:
            return [c.webhook for c in self._channels.values()]

    def close(self, timeout: float = 5.0) -> None:
        """Stop after what is queued (bounded by `timeout`): a stopping Jira loses nothing sent."""
        self._closing.set()
        with self._lock:
            channels = list(self._channels.values())
            self._channels.clear()
        for channel in channels:
            channel.queue.put(None)
        deadline = time.monotonic() + timeout
        for channel in channels:
            channel.thread.join(max(0.0, deadline - time.monotonic()))

    # -- sending ---------------------------------------------------------------------------------

    def emit(self, payload: dict[str, Any]) -> list[Delivery]:
        """Queue one event for every webhook that wants it; returns the queued deliveries."""
        event = str(payload["webhookEvent"])
        issue = payload.get("issue") or {}
        created = datetime.now(UTC)
        queued: list[Delivery] = []
        with self._lock:
            channels = [c for c in self._channels.values() if c.webhook.wants(event)]
        for channel in channels:
            webhook = channel.webhook
            body = json.dumps(
                {**payload, "matchedWebhookIds": [webhook.id]},
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode("utf-8")
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
                "X-Atlassian-Webhook-Flow": "Primary",
            }
            if webhook.secret is not None:
                headers["X-Hub-Signature"] = signature(webhook.secret, body)
            delivery = Delivery(
                identifier=headers["X-Atlassian-Webhook-Identifier"],
                webhook_id=webhook.id,
                url=webhook.url,
                event=event,
                issue_key=issue.get("key"),
                body=body,
                headers=headers,
                created=created,
            )
            with self._lock:
                self._deliveries.append(delivery)
            channel.queue.put(delivery)
            queued.append(delivery)
        return queued

    def deliver(self, http: httpx.Client, delivery: Delivery) -> None:
        for retry in range(self.attempts):
            if retry and self._closing.wait(self.backoff_seconds * 2 ** (retry - 1)):
                break  # shutting down: do not sit out a back-off
            headers = {**delivery.headers, "X-Atlassian-Webhook-Retry": str(retry)}
            status: int | None = None
            error: str | None = None
            try:
                status = http.post(delivery.url, content=delivery.body, headers=headers).status_code
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            with self._lock:
                delivery.attempts.append(Attempt(retry, datetime.now(UTC), status, error))
            if status is not None and status < 300:
                delivery.state = "delivered"
                return
            if status is not None and status < 500 and status not in RETRY_STATUSES:
                break
        delivery.state = "failed"
        log.warning(
            "webhook %s %s to %s failed after %d attempt(s)",
            delivery.event,
            delivery.identifier,
            delivery.url,
            len(delivery.attempts),
        )

    def deliveries(
        self, *, event: str | None = None, issue_key: str | None = None
    ) -> list[Delivery]:
        with self._lock:
            return [
                d
                for d in self._deliveries
                if (event is None or d.event == event)
                and (issue_key is None or d.issue_key == issue_key)
            ]

    def clear_deliveries(self) -> None:
        with self._lock:
            self._deliveries.clear()


# -- payloads -------------------------------------------------------------------------------------


def _timestamp() -> int:
    return int(time.time() * 1000)


def _everything(_: str) -> bool:
    return True


def change(
    field_id: str, old: Any, new: Any, *, ids: tuple[Any, Any] = (None, None)
) -> dict[str, Any]:
    """One changelog item, as Jira writes it: display strings, and ids where the field has them."""
    return {
        "field": field_id,
        "fieldtype": "jira",
        "fieldId": field_id,
        "from": ids[0],
        "fromString": old,
        "to": ids[1],
        "toString": new,
    }


def status_changes(old: Status, new: Status) -> list[dict[str, Any]]:
    items = [change("status", old.name, new.name, ids=(old.id, new.id))]
    was_done, is_done = old.category_key == "done", new.category_key == "done"
    if is_done and not was_done:
        items.append(change("resolution", None, "Done", ids=(None, "10000")))
    elif was_done and not is_done:
        items.append(change("resolution", "Done", None, ids=("10000", None)))
    return items


def issue_event(
    base: str,
    cfg: SandboxConfig,
    *,
    event: str,
    type_name: str,
    actor: str,
    issue: Issue,
    changelog: tuple[int, list[dict[str, Any]]] | None = None,
    comment: Comment | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "timestamp": _timestamp(),
        "webhookEvent": event,
        "issue_event_type_name": type_name,
        "user": user_json(base, actor, cfg.display_name(actor)),
        "issue": issue_json(base, cfg, issue, _everything),
    }
    if changelog is not None:
        payload["changelog"] = {"id": str(changelog[0]), "items": changelog[1]}
    if comment is not None:
        payload["comment"] = comment_json(base, cfg, issue.id, comment)
    return payload


def comment_event(
    base: str, cfg: SandboxConfig, *, event: str, issue: Issue, comment: Comment
) -> dict[str, Any]:
    """Jira Cloud's comment events carry the comment and a slim issue."""
    wanted = {"summary", "issuetype", "project", "status", "priority", "assignee"}
    slim = issue_json(base, cfg, issue, lambda name: name in wanted)
    slim.pop("expand", None)
    return {
        "timestamp": _timestamp(),
        "webhookEvent": event,
        "comment": comment_json(base, cfg, issue.id, comment),
        "issue": slim,
    }
