"""`POST /webhooks/jira[/<site>]`: what agents do in Jira reaches their incidents.

An agent who logs a call as an issue starts an incident (`jira:issue_created`); moving the issue
to a mapped status validates, dismisses, acknowledges, contains, resolves or closes it
(`jira:issue_updated` with a status change; the mapping is in intake/jira_transitions.py).

Trust comes first. In cloud mode every delivery must carry Jira's admin-webhook signature
(`X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`); without a configured secret
nothing is accepted at all, because an unsigned endpoint would let anyone who can reach it start
or resolve incidents. Data Center does not sign; there an optional shared token in the URL
(`?token=`) is the only proof. Both are checked in constant time, and on the raw bytes before
anything is parsed.

Deliveries are idempotent at two levels. This instance remembers recent
`X-Atlassian-Webhook-Identifier`s (a bounded LRU, lost on restart) and answers a repeat at once.
That is only a shortcut: the intake is stateless and Jira may retry to another instance, so what
a delivery does is idempotent in Temporal too. A start uses the fixed workflow id
`incident-<KEY>` with USE_EXISTING / REJECT_DUPLICATE, an update carries the Jira changelog id as
its update id (Temporal runs an update id once per workflow run and returns the first outcome to
repeats), and the comment explaining a refusal carries the same id as a marker and is posted only
if no comment has it yet.

Incident Desk's own changes come back as webhooks too (it comments on and closes tickets); they
are recognised by their `user` being Incident Desk's Jira account and ignored, so nothing loops.

Each Jira site (JIRA_URL's `default` and every JIRA_SITES entry) posts to its own path and has
its own receiver: its own secret or token, its own Jira account and session, its own scope and
workflow ids (intake/jira_site_hooks.py). A delivery can only act on its own site's incidents.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from incident_desk.jira_sites import configured_sites
from incidents.lifecycle import IncidentView
from incidents.report import StartIncident
from intake.jira_inbound import JiraInbound
from intake.jira_payloads import (
    INCIDENT_DESK_LABEL,
    ChangelogItem,
    JiraIssue,
    JiraUser,
    JiraWebhookEvent,
    ReportProblem,
    plain_text,
    report_from_issue,
)
from intake.jira_review import ReviewSubtasks, is_review
from intake.jira_site_hooks import PATH, InboundSite, SiteScope, choose_client
from intake.jira_transitions import (
    OUTCOMES,
    UPDATES,
    WORDS,
    NeedsReason,
    TransitionMap,
    Verb,
    action_for,
    already,
    hint,
)
from intake.queries import query_state
from integrations.jira import PROPERTY_KEY, JiraGateway, JiraIdentity, JiraRequestError
from integrations.jira_sites import DEFAULT_SITE, JiraSites, JiraTarget
from workflows.names import IncidentSearchAttribute as SA

if TYPE_CHECKING:
    from intake.app import Intake

log = logging.getLogger("incident_desk.intake.jira")

SEEN_CAPACITY = 10_000
ACTION_BY_MAX = 200
# An update needs a worker to run it; without one, answer 503 (Jira retries) rather than hold
# Jira's request open. A retry carries the same update id, so it cannot act twice.
UPDATE_TIMEOUT_SECONDS = 10.0
QUERY_TIMEOUT_SECONDS = 5.0
COMMENT_EVENTS = frozenset({"comment_created", "comment_updated", "comment_deleted"})
HANDLED_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated", "jira:issue_deleted"})

Outcome = Literal[
    "started",
    "acknowledged",
    "resolved",
    "refused",
    "unchanged",
    "ignored",
    "duplicate",
    "updated",
    "commented",
    "validated",
    "dismissed",
    "contained",
    "closed",
]


class WebhookOutcome(BaseModel):
    """What a delivery did. Jira only looks at the status code; people read the rest in logs."""

    outcome: Outcome
    detail: str
    issue_key: str | None = None
    workflow_id: str | None = None

    @property
    def status_code(self) -> int:
        # 202: received and deliberately not acted on; 200: handled (including refusals, which
        # are answered in Jira itself and must not make Jira retry).
        return 202 if self.outcome == "ignored" else 200


class ForeignIncident(Exception):
    """A delivery named an incident of a client kept on another Jira site; it is ignored."""


class SeenDeliveries:
    """Delivery identifiers this instance has handled, oldest forgotten first."""

    def __init__(self, capacity: int = SEEN_CAPACITY) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, identifier: object) -> bool:
        if identifier in self._ids:
            self._ids.move_to_end(identifier)  # type: ignore[arg-type]
            return True
        return False

    def add(self, identifier: str) -> None:
        self._ids[identifier] = None
        self._ids.move_to_end(identifier)
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


class JiraWebhooks:
    """One site's receiver: authenticates a delivery, then turns it into a Temporal start or
    update on that site's incidents."""

    def __init__(self, intake: Intake, site: InboundSite, sites: JiraSites) -> None:
        self.intake = intake
        self.settings = intake.settings
        self.site = site
        self._sites = sites
        self.seen = SeenDeliveries()
        self._me: JiraIdentity | None = None
        self.update_timeout = UPDATE_TIMEOUT_SECONDS
        self.inbound = JiraInbound(self)
        self.review = ReviewSubtasks(self)

    def gateway(self) -> JiraGateway:
        """This site's Jira, with this site's account: read-backs and comments go where the
        delivery came from (one session per site, shared with nothing else here)."""
        return self._sites.gateway(JiraTarget(site=self.site.id))

    async def handle(self, workflow_id: str, client: str | None = None) -> WorkflowHandle[Any, Any]:
        """The incident's handle in the namespace it runs in. A Jira event names an issue, not a
        client, so with namespaces per client the incident is found by its id (a fan-out,
        remembered); one found nowhere gets the default namespace's handle, whose calls then
        answer NOT_FOUND as the callers expect."""
        if client is not None:
            return self.intake.client(client).get_workflow_handle(workflow_id)
        try:
            return await self.intake.locate(workflow_id)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return self.intake.client().get_workflow_handle(workflow_id)
            raise HTTPException(503, f"Temporal error: {exc.message}; retry") from exc

    def scope(self) -> SiteScope:
        # From the policies as loaded now (they load after start-up and may fail to): cheap.
        return SiteScope.of(self.site, self.intake.policies)

    def warn_about_configuration(self) -> None:
        site, path = self.site.site, self.site.path
        if site.webhook_mode == "cloud" and site.webhook_secret is None:
            log.warning(
                "%s is not set: %s refuses every Jira webhook (cloud mode)",
                self.site.setting("webhook_secret"),
                path,
            )
        elif (
            site.webhook_mode == "datacenter"
            and site.webhook_secret is None
            and site.webhook_token is None
        ):
            log.warning(
                "Jira webhooks to %s (datacenter mode) are accepted without any proof of origin; "
                "set %s and add ?token=<it> to the webhook URL in Jira",
                path,
                self.site.setting("webhook_token"),
            )
        if self.site.is_default:
            clashes = TransitionMap.from_settings(self.settings).overlaps()
            if clashes:
                log.warning("Jira statuses mapped to two actions (the first wins): %s", clashes)

    # -- the HTTP part: authenticate, bound, parse -----------------------------------------------

    async def receive(self, request: Request, token: str | None) -> JSONResponse:
        site = self.site.site
        secret = site.webhook_secret.get_secret_value() if site.webhook_secret else None
        setting = self.site.setting("webhook_secret")
        if secret is None and site.webhook_mode == "cloud":
            raise HTTPException(
                503,
                f"Jira webhooks are refused: {setting} is not set, and Incident Desk "
                "never accepts unsigned webhooks in cloud mode. Give the webhook a secret in "
                f"Jira and set the same value in {setting} (docs/jira.md).",
            )
        self._check_token(token)
        signature = request.headers.get("x-hub-signature")
        if secret is not None and signature is None:
            raise HTTPException(
                401,
                "missing X-Hub-Signature header: this endpoint only accepts webhooks signed "
                f"with the secret in {setting}",
            )
        body = await self._read_body(request)
        if secret is not None:
            assert signature is not None
            _verify_signature(secret, body, signature, setting)

        delivery = request.headers.get("x-atlassian-webhook-identifier") or None
        if delivery is not None and delivery in self.seen:
            log.info("jira webhook delivery %s seen before; ignored", delivery)
            outcome = WebhookOutcome(
                outcome="duplicate", detail=f"delivery {delivery} was handled before"
            )
            return JSONResponse(outcome.model_dump(), status_code=outcome.status_code)

        name, event = self._parse(body)
        if event is None:
            outcome = WebhookOutcome(
                outcome="ignored", detail=f"event type {name!r} is not one Incident Desk handles"
            )
        else:
            try:
                outcome = await self.dispatch(event, delivery)
            except ForeignIncident as exc:
                outcome = self._ignored(event, str(exc))
        if delivery is not None:
            self.seen.add(delivery)
        log.info(
            "jira webhook %s from site %s (delivery %s, retry %s) for %s: %s - %s",
            name,
            self.site.id,
            delivery,
            request.headers.get("x-atlassian-webhook-retry", "-"),
            outcome.issue_key or "-",
            outcome.outcome,
            outcome.detail,
        )
        return JSONResponse(outcome.model_dump(), status_code=outcome.status_code)

    def _check_token(self, token: str | None) -> None:
        expected = self.site.site.webhook_token
        if expected is None:
            return
        if token is None:
            raise HTTPException(401, "missing ?token= in the webhook URL")
        if not hmac.compare_digest(
            token.encode("utf-8"), expected.get_secret_value().encode("utf-8")
        ):
            raise HTTPException(401, "wrong ?token= in the webhook URL")

    async def _read_body(self, request: Request) -> bytes:
        """The raw body, refused as soon as it exceeds the limit: whether announced or streamed."""
        limit = self.settings.jira_webhook_max_bytes
        too_large = HTTPException(
            413, f"webhook body larger than {limit} bytes (JIRA_WEBHOOK_MAX_BYTES)"
        )
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise too_large
            except ValueError:
                raise HTTPException(400, "Content-Length is not a number") from None
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, body: bytes) -> tuple[str, JiraWebhookEvent | None]:
        """The event's name, and the event unless Incident Desk does not handle its type."""
        try:
            data = json.loads(body)
        except ValueError as exc:  # includes UnicodeDecodeError
            raise HTTPException(400, f"webhook body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "webhook body must be a JSON object")
        name = data.get("webhookEvent")
        if not isinstance(name, str) or not name:
            raise HTTPException(400, "webhook body has no 'webhookEvent' naming the event")
        if name not in HANDLED_EVENTS | COMMENT_EVENTS:
            return name, None
        try:
            return name, JiraWebhookEvent.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            raise HTTPException(400, f"invalid Jira webhook payload: {problems}") from None

    # -- what each event does --------------------------------------------------------------------

    async def dispatch(self, event: JiraWebhookEvent, delivery: str | None) -> WebhookOutcome:
        name = event.webhook_event
        if name in COMMENT_EVENTS:
            return await self.inbound.commented(event)
        if name == "jira:issue_deleted":
            return self._ignored(event, "deleting a ticket does not close its incident")
        issue = event.issue
        if issue is None:
            raise HTTPException(400, f"invalid Jira webhook payload: {name} without an 'issue'")
        if is_review(issue):
            if name != "jira:issue_updated":
                return self._ignored(event, f"{issue.key} is a post-incident review sub-task")
            return await self.review.updated(event, issue, _event_ref(event, delivery))
        scope = self.scope()
        if not self._in_scope(issue, scope):
            fields = issue.fields
            return self._ignored(
                event,
                f"{issue.key} is a {fields.issuetype.name if fields.issuetype else '?'} issue "
                f"in project {self._project_of(issue)}; on Jira site '{self.site.id}' Incident "
                f"Desk handles {scope.describe()}",
            )
        if name == "jira:issue_created":
            if INCIDENT_DESK_LABEL in issue.labels:
                return self._ignored(
                    event, f"created by Incident Desk (label '{INCIDENT_DESK_LABEL}')"
                )
            return await self._start(event, issue, _event_ref(event, delivery))

        changelog = event.changelog
        status = changelog.find("status") if changelog else None
        labels = changelog.find("labels") if changelog else None
        if status is not None:
            return await self._status_changed(event, issue, status, delivery)
        edits = self.inbound.edits(event)
        if edits:
            return await self.inbound.fields_edited(
                event, issue, edits, _event_ref(event, delivery)
            )
        if labels is not None and INCIDENT_DESK_LABEL not in issue.labels:
            # The way to retry an issue refused for its labels (e.g. an unknown client).
            if await self._is_self(event.user):
                return self._ignored(event, "Incident Desk's own change")
            return await self._start_if_missing(event, issue, _event_ref(event, delivery))
        if event.comment is not None or event.issue_event_type_name == "issue_commented":
            return await self.inbound.commented(event)
        return self._ignored(event, "no change Incident Desk acts on")

    def _ignored(self, event: JiraWebhookEvent, why: str) -> WebhookOutcome:
        return WebhookOutcome(
            outcome="ignored", detail=why, issue_key=event.issue.key if event.issue else None
        )

    def _project_of(self, issue: JiraIssue) -> str:
        project = issue.fields.project
        return (project.key if project and project.key else issue.key.rsplit("-", 1)[0]).upper()

    def _in_scope(self, issue: JiraIssue, scope: SiteScope | None = None) -> bool:
        return self._clients_for(issue, scope) is not None

    def _clients_for(
        self, issue: JiraIssue, scope: SiteScope | None = None
    ) -> tuple[str, ...] | None:
        """The clients routed to the issue's project and type on this site; None: not ours."""
        issue_type = issue.fields.issuetype
        return (scope or self.scope()).clients_for(
            self._project_of(issue), (issue_type.name or "") if issue_type else None
        )

    # -- incidents born in Jira ------------------------------------------------------------------

    async def _start(self, event: JiraWebhookEvent, issue: JiraIssue, ref: str) -> WebhookOutcome:
        intake = self.intake
        if intake.policy_error is not None:
            raise HTTPException(503, f"client policies are not loaded: {intake.policy_error}")
        s = self.settings
        received_at = datetime.now(UTC)
        try:
            client = choose_client(
                self.site,
                self._clients_for(issue) or (),
                issue.labels,
                prefix=s.jira_client_label_prefix,
                default_client=s.jira_default_client,
                policies=intake.policies,
            )
            report = report_from_issue(
                issue,
                acting=event.user,
                default_client=client,
                client_label_prefix=s.jira_client_label_prefix,
                received_at=received_at,
            )
        except ReportProblem as exc:
            return await self._refuse_start(issue, str(exc), ref)
        policy = intake.policies.get(report.client)
        if policy is None:
            known = ", ".join(sorted(intake.policies)) or "none"
            return await self._refuse_start(
                issue,
                f"no client '{report.client}' is known (known clients: {known}); label the issue "
                f"'{s.jira_client_label_prefix}<client id>'",
                ref,
            )
        duplicate, keys = await self.inbound.duplicate(issue, report, ref)
        if duplicate is not None:
            return duplicate
        workflow_id = await intake.start_incident(
            StartIncident(
                incident_id=self.site.incident_id(issue.key),
                report=report,
                received_at=received_at,
                jira_key=issue.key,
            ),
            policy,
            report_keys=keys,
        )
        return WebhookOutcome(
            outcome="started",
            detail=f"incident {self.site.incident_id(issue.key)} for client {report.client} "
            "is running",
            issue_key=issue.key,
            workflow_id=workflow_id,
        )

    async def _start_if_missing(
        self, event: JiraWebhookEvent, issue: JiraIssue, ref: str
    ) -> WebhookOutcome:
        handle = await self.handle(self.site.workflow_id(issue.key))
        try:
            await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise HTTPException(503, f"Temporal error: {exc.message}") from exc
            return await self._start(event, issue, ref)
        return WebhookOutcome(
            outcome="unchanged",
            detail="the incident exists; label changes do not change it",
            issue_key=issue.key,
            workflow_id=handle.id,
        )

    async def _refuse_start(self, issue: JiraIssue, problem: str, ref: str) -> WebhookOutcome:
        await self._comment_once(
            issue.key,
            f"Incident Desk did not open an incident for this issue: {problem}.\n"
            "Fix the labels; Incident Desk tries again when they change.",
            ref,
        )
        return WebhookOutcome(outcome="refused", detail=problem, issue_key=issue.key)

    # -- agents' transitions ---------------------------------------------------------------------

    async def _status_changed(
        self,
        event: JiraWebhookEvent,
        issue: JiraIssue,
        change: ChangelogItem,
        delivery: str | None,
    ) -> WebhookOutcome:
        statuses = TransitionMap.from_settings(self.settings)
        target = (change.to_string or "").strip()
        verb = statuses.verb_for(target)
        if verb is None:
            return self._ignored(event, f"status '{target}' is not mapped to an incident action")
        if await self._is_self(event.user):
            return self._ignored(event, "Incident Desk's own change")

        workflow_id = await self._workflow_for(issue)
        ref = _event_ref(event, delivery)
        who = (event.user.label if event.user else "a Jira user")[:ACTION_BY_MAX]
        moved = f"Moved {issue.key} from '{change.from_string}' to '{target}' in Jira"
        comment = plain_text(event.comment.body).strip() if event.comment else ""
        try:
            action = action_for(verb, who, moved, comment or None, issue.key)
        except NeedsReason as exc:
            return await self._refused(issue, workflow_id, verb, str(exc), change, who, ref)
        handle = await self.handle(workflow_id)
        try:
            await asyncio.wait_for(
                handle.execute_update(UPDATES[verb], action, id=ref), self.update_timeout
            )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            raise HTTPException(
                503,
                f"incident {workflow_id} did not answer within {self.update_timeout:g} s "
                "(is a worker running?); retry",
            ) from exc
        except WorkflowUpdateFailedError as exc:
            reason = getattr(exc.cause, "message", None) or str(exc.cause)
            return await self._refused(issue, workflow_id, verb, reason, change, who, ref)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                if await self.intake.is_closed(handle):
                    return WebhookOutcome(
                        outcome="unchanged",
                        detail=f"incident {workflow_id} is closed",
                        issue_key=issue.key,
                        workflow_id=workflow_id,
                    )
                return self._ignored(event, f"no incident workflow {workflow_id} for {issue.key}")
            raise HTTPException(503, f"Temporal error: {exc.message}; retry") from exc
        return WebhookOutcome(
            outcome=OUTCOMES[verb],  # type: ignore[arg-type]
            detail=f"{who} moved {issue.key} to '{target}': {WORDS[verb]}",
            issue_key=issue.key,
            workflow_id=workflow_id,
        )

    async def _refused(
        self,
        issue: JiraIssue,
        workflow_id: str,
        verb: Verb,
        reason: str,
        change: ChangelogItem,
        who: str,
        ref: str,
    ) -> WebhookOutcome:
        """Explain in Jira, unless the incident already is what the ticket now says."""
        view = await self._view(workflow_id)
        if view is not None and already(view, verb):
            return WebhookOutcome(
                outcome="unchanged",
                detail=f"the incident is already {view.state}: {reason}",
                issue_key=issue.key,
                workflow_id=workflow_id,
            )
        state = f"is still {view.state}" if view is not None else "has not changed"
        next_step = hint(view, verb, TransitionMap.from_settings(self.settings))
        await self._comment_once(
            issue.key,
            f"Incident Desk did not {WORDS[verb]}: {reason}.\n"
            f'{who} moved {issue.key} from "{change.from_string}" to "{change.to_string}", '
            f"but the incident {state}. {next_step}",
            ref,
        )
        return WebhookOutcome(
            outcome="refused",
            detail=f"{verb} refused: {reason}",
            issue_key=issue.key,
            workflow_id=workflow_id,
        )

    async def _view(self, workflow_id: str) -> IncidentView | None:
        try:
            handle = await self.handle(workflow_id)
            return await asyncio.wait_for(query_state(handle), QUERY_TIMEOUT_SECONDS)
        except Exception as exc:  # only used to word a comment; never worth failing over
            log.warning("could not read the state of %s: %s", workflow_id, exc)
            return None

    async def _workflow_for(self, issue: JiraIssue) -> str:
        """The issue property if the payload has it, else as this site's Jira has it, else the
        workflow an issue of this site starts (`incident-<KEY>`, elsewhere `incident-<KEY>.<site>`).

        Both come from the site the delivery came from, so an issue with the same key on another
        site, and its incident, are never touched.
        """
        value = issue.property_value(PROPERTY_KEY)
        if isinstance(value, dict) and isinstance(value.get("workflowId"), str):
            return await self.owned_here(str(value["workflowId"]), issue.key)
        try:
            found = await asyncio.to_thread(self.gateway().workflow_id_of, issue.key)
        except JiraRequestError as exc:
            if exc.retryable:
                raise HTTPException(
                    503,
                    f"Jira could not say which incident {issue.key} belongs to ({exc}); retry",
                ) from exc
            log.warning("cannot read the %s property of %s: %s", PROPERTY_KEY, issue.key, exc)
            found = None
        if found:
            return await self.owned_here(found, issue.key)
        return self.site.workflow_id(issue.key)

    async def owned_here(self, workflow_id: str, key: str) -> str:
        """`workflow_id`, named by an issue property, unless its client is kept on another site.

        Anyone who may edit an issue may set its properties, so a property is a claim made on
        this site: it may only reach incidents of clients routed here, or agents in one client's
        Jira could move another client's incidents. An incident that cannot be found is left to
        the caller, whose update reports it gone.
        """
        try:
            described = await (await self.handle(workflow_id)).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return workflow_id
            raise HTTPException(503, f"Temporal error: {exc.message}; retry") from exc
        client = described.typed_search_attributes.get(SA.CLIENT.key)
        policy = self.intake.policies.get(client) if client else None
        if policy is not None and policy.jira.site != self.site.id:
            raise ForeignIncident(
                f"{key} names incident {workflow_id} (issue property '{PROPERTY_KEY}'), whose "
                f"client is kept on Jira site '{policy.jira.site}', not '{self.site.id}': "
                "not acted on"
            )
        return workflow_id

    # -- Incident Desk's own account -------------------------------------------------------------

    async def _is_self(self, user: JiraUser | None) -> bool:
        """Whether the change was made with Incident Desk's own Jira account.

        Cloud identifies users by accountId and often hides e-mail addresses, so our own
        accountId is asked from Jira once (`myself`); until that succeeds, the configured
        JIRA_USER is compared with the user's name and e-mail address.
        """
        if user is None:
            return False
        theirs = {
            v.casefold() for v in (user.account_id, user.name, user.key, user.email_address) if v
        }
        if self.site.site.user and self.site.site.user.casefold() in theirs:
            return True
        if not theirs:
            return False  # nothing to compare: asking Jira who we are would not help
        if self._me is None:
            try:
                self._me = await asyncio.to_thread(self.gateway().myself)
            except JiraRequestError as exc:
                log.warning("cannot ask Jira who Incident Desk is: %s", exc)
                return False
        me = self._me
        ours = {v.casefold() for v in (me.account_id, me.name, me.key, me.email_address) if v}
        return bool(ours & theirs)

    async def _comment_once(self, key: str, body: str, ref: str) -> None:
        marker = f"[Incident Desk ref {ref}]"
        try:
            await asyncio.to_thread(
                self.gateway().add_comment_once, key, f"{body}\n{marker}", marker
            )
        except JiraRequestError as exc:
            if exc.retryable:
                # Nothing changed in Temporal; Jira's retry will explain again.
                raise HTTPException(503, f"could not comment on {key} ({exc}); retry") from exc
            log.error("could not comment on %s: %s", key, exc)


def _verify_signature(secret: str, body: bytes, header: str, setting: str) -> None:
    method, _, digest = header.strip().partition("=")
    if method.lower() != "sha256" or not digest:
        raise HTTPException(401, "X-Hub-Signature must be 'sha256=<hex digest>'")
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    # Header values arrive latin-1 decoded; bytes keep compare_digest total on any input.
    if not hmac.compare_digest(expected.encode(), digest.lower().encode("latin-1")):
        raise HTTPException(
            401,
            f"X-Hub-Signature does not match the body: Jira and {setting} must hold "
            "the same secret",
        )


def _event_ref(event: JiraWebhookEvent, delivery: str | None) -> str:
    """The event's idempotency key: the same for every delivery of one change in Jira.

    The changelog id names the change itself, so it also covers duplicate deliveries with
    different identifiers (a second webhook, a secondary flow); the delivery identifier is the
    fallback for events without a changelog.
    """
    if event.changelog is not None and event.changelog.id:
        return f"jira-changelog-{event.changelog.id}"
    if event.issue is not None and event.webhook_event == "jira:issue_created":
        return f"jira-created-{event.issue.id or event.issue.key}"
    if delivery:
        return f"jira-delivery-{delivery}"
    key = event.issue.key if event.issue else "-"
    digest = hashlib.sha256(f"{event.webhook_event}|{key}|{event.timestamp}".encode()).hexdigest()
    return f"jira-event-{digest[:20]}"


def install_jira_webhooks(app: FastAPI, intake: Intake) -> None:
    """Add `POST /webhooks/jira` (the default site) and `POST /webhooks/jira/{site}` (each site,
    default included) to the intake app."""
    sites = configured_sites(intake.settings)
    receivers = {
        site_id: JiraWebhooks(intake, InboundSite(site_id, site), sites)
        for site_id, site in sites.items()
    }
    for hooks in receivers.values():
        hooks.warn_about_configuration()
    app.state.jira_webhooks = receivers[DEFAULT_SITE]
    app.state.jira_site_webhooks = receivers
    responses: dict[int | str, dict[str, Any]] = {
        202: {"description": "Received, deliberately not acted on", "model": WebhookOutcome},
        400: {"description": "Not JSON, or not a Jira event"},
        401: {"description": "Missing or wrong signature or token"},
        413: {"description": "Body over JIRA_WEBHOOK_MAX_BYTES"},
        503: {"description": "Not configured, or Temporal/Jira unreachable: Jira retries"},
    }
    body: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }

    @app.post(
        PATH,
        response_model=WebhookOutcome,
        tags=["jira"],
        summary="Receive a Jira webhook",
        responses=responses,
        openapi_extra=body,
    )
    async def jira_webhook(
        request: Request,
        token: str | None = Query(
            None, max_length=512, description="Data Center: the shared JIRA_WEBHOOK_TOKEN"
        ),
    ) -> JSONResponse:
        """Jira's admin webhook (Cloud: signed with `X-Hub-Signature`; Data Center: `?token=`).

        Issue created in the configured project and issue type → a new incident
        `incident-<KEY>`; issue moved to a mapped status → the lifecycle action it stands for.
        """
        return await receivers[DEFAULT_SITE].receive(request, token)

    @app.post(
        f"{PATH}/{{site}}",
        response_model=WebhookOutcome,
        tags=["jira"],
        summary="Receive a Jira webhook from one configured Jira site",
        responses={**responses, 404: {"description": "No Jira site by that id"}},
        openapi_extra=body,
    )
    async def jira_site_webhook(
        request: Request,
        site: str = PathParam(max_length=64, description="A site id from JIRA_SITES, or default"),
        token: str | None = Query(
            None, max_length=512, description="Data Center: the site's webhook_token"
        ),
    ) -> JSONResponse:
        """The same webhook from another Jira site (JIRA_SITES), proven by that site's own
        `webhook_secret` or `webhook_token`. Issues of the projects that client policies route
        to the site start incidents `incident-<KEY>.<site>`; moves act on those only."""
        hooks = receivers.get(site)
        if hooks is None:
            raise HTTPException(
                404,
                f"no Jira site '{site[:64]}' is configured here; configured sites: "
                f"{', '.join(sorted(receivers))} (JIRA_SITES)",
            )
        return await hooks.receive(request, token)
