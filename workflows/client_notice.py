"""Telling the client: email their security contacts, prove it, and chase the acknowledgement
(a reminder, then the alternate contacts, then the BPO's account manager).

The email is the contract's notice, so sending it discharges the contract's reporting stage,
with the message ids as the evidence.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notify import NoticeRequest, NotifyActivities
    from activities.paging import PageRequest, PagingActivities
    from incidents import escalation, notification
    from incidents.clocks import ClockStatus
    from incidents.notification import (
        ClientAcknowledgement,
        ClientNotification,
        NoticeContent,
        Recipient,
        SentNotice,
    )
    from incidents.policy import ClientPolicy, SecurityContact
    from workflows.clocks import ReportingClocks
    from workflows.context import IncidentContext, at
    from workflows.options import EFFECT_RETRY, EFFECT_TIMEOUT, HEARTBEAT_TIMEOUT, NOTICE_DEADLINE

NOTIFIER = "incident-desk"


class NoticeCarry(BaseModel):
    """Where the chase for the client's acknowledgement stood: the step it waits to take (0:
    remind, 1: alternates, 2: account manager) and since when; None when not chasing."""

    step: int | None = None
    since: datetime | None = None


class ClientNotice:
    def __init__(self, ctx: IncidentContext, clocks: ReportingClocks) -> None:
        self._ctx = ctx
        self._clocks = clocks
        self._task: asyncio.Task[None] | None = None
        self._chasing: NoticeCarry = NoticeCarry()

    def start(self, policy: ClientPolicy) -> None:
        """Its own task: the escalation chain keeps its timers while the client is told and
        chased."""
        self._task = asyncio.create_task(self._notify(policy))

    def snapshot(self) -> NoticeCarry:
        return self._chasing

    def resume(self, carried: NoticeCarry, policy: ClientPolicy) -> None:
        """Chase on from the step a continued run had reached, on the same instants."""
        if carried.step is None or carried.since is None:
            return
        contacts = [_recipient(c) for c in policy.contacts]
        self._task = asyncio.create_task(self._chase(policy, contacts, carried.step, carried.since))

    def acknowledged(self) -> bool:
        sent = self._ctx.view.client_notification
        return sent is not None and sent.acknowledgement is not None

    async def record_ack(self, ack: ClientAcknowledgement) -> None:
        """The first acknowledgement is the evidence and stops the chasing; later ones (a
        colleague, another link) are recorded beside it and change nothing."""
        sent = self._ctx.view.client_notification
        assert sent is not None
        ack = ack.model_copy(update={"at": workflow.now()})
        via = f"via {ack.channel}"
        if ack.message_id:
            via += f", message {ack.message_id}"
        if ack.ip:
            via += f", from {ack.ip}"
        if ack.user_agent:
            via += f" ({ack.user_agent})"
        if sent.acknowledgement is not None:
            first = sent.acknowledgement
            self._ctx.record(
                "client_also_acknowledged",
                f"Client acknowledgement also from {ack.contact} {via} "
                f"(first: {first.contact} at {at(first.at)})",
                by=ack.contact,
            )
            return
        sent.acknowledgement = ack
        self._ctx.record("client_acknowledged", f"Client acknowledged {via}", by=ack.contact)
        await self._ctx.comment(f"Client acknowledgement: {ack.contact} at {at(ack.at)} {via}.")
        if sent.escalation_key:
            await self._ctx.resolve_page(
                sent.escalation_key, "Resolve the client-acknowledgement alert"
            )

    async def _notify(self, policy: ClientPolicy) -> None:
        """Tell the client's security contacts, prove it (the contract stage is done with the
        message ids as its reference), then chase the acknowledgement step by step."""
        with self._ctx.effect():
            contacts = await self._notified(policy)
        if contacts:
            await self._chase(policy, contacts)

    async def _notified(self, policy: ClientPolicy) -> list[Recipient]:
        """The first notice; the contacts to chase, none when nobody could be told."""
        contacts = [_recipient(c) for c in policy.contacts]
        if not contacts:
            # Timeline only: the contract clock, if there is one, reminds the agents in Jira.
            self._ctx.record(
                "client_not_notified",
                "The client policy names no security contacts: nobody at the client was emailed",
            )
            return []
        self._ctx.view.client_notification = ClientNotification(
            recipients=[c.email for c in contacts]
        )
        sent = await self._send_notices(policy, notification.NOTIFICATION, contacts)
        if not sent:
            return []
        await self._contract_notified(policy, sent)
        await self._ctx.comment(f"Client notified: {notification.contact_label(contacts)}")
        return contacts

    async def _send_notices(
        self, policy: ClientPolicy, kind: str, recipients: list[Recipient]
    ) -> list[SentNotice]:
        view = self._ctx.view
        content = self._content(policy, kind)
        sent: list[SentNotice] = []
        for number, recipient in enumerate(recipients, start=1):
            language = notification.template_language(recipient.language)
            if language != recipient.language.split("-")[0].lower():
                self._ctx.record(
                    "notice_language_fallback",
                    f"No {recipient.language} template: {recipient.name} was written to in "
                    f"{language}",
                )
            try:
                notice = await workflow.execute_activity_method(
                    NotifyActivities.send_client_notice,
                    NoticeRequest(
                        workflow_id=view.workflow_id,
                        purpose=kind,
                        recipient=recipient,
                        content=content,
                        client=view.client,
                    ),
                    start_to_close_timeout=EFFECT_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    schedule_to_close_timeout=NOTICE_DEADLINE,
                    retry_policy=EFFECT_RETRY,
                    # Summaries are not encrypted by every codec set-up: no address here.
                    summary=f"Email the client's {kind} to contact {number} of {len(recipients)}",
                )
            except ActivityError as err:
                self._ctx.record(
                    "client_notice_failed", f"{kind} to {recipient.email} not sent: {err.cause}"
                )
                await self._ctx.comment(
                    f"The client {kind} to {recipient.email} could not be sent: {err.cause}. "
                    "Notify them by other means."
                )
                continue
            assert view.client_notification is not None
            view.client_notification.notices.append(notice)
            sent.append(notice)
        if sent:
            to = ", ".join(f"{n.name} <{n.to}> (message {n.message_id})" for n in sent)
            self._ctx.record(f"client_{kind}_sent", f"Client {kind} emailed to {to}", by=NOTIFIER)
        return sent

    def _content(self, policy: ClientPolicy, kind: str) -> NoticeContent:
        view = self._ctx.view
        facts = view.facts
        return NoticeContent(
            kind=kind,
            incident_id=view.incident_id,
            client_name=policy.name,
            jira_key=view.jira_key,
            severity=str(view.severity),
            incident_type=str(facts.incident_type or view.category) if facts else view.category,
            aware_at=view.aware_at,
            received_at=view.received_at,
            jurisdictions=[str(j) for j in facts.jurisdictions] if facts else [],
            data_categories=[str(d) for d in facts.data_categories] if facts else [],
            records_affected=facts.records_affected if facts else None,
            contract_clause=policy.contract.clause if policy.contract else None,
            client_obligations=notification.client_obligations(view.obligations),
            timezone=policy.timezone,
            link_expires_at=workflow.now() + policy.client_ack.link_valid_for,
        )

    async def _contract_notified(self, policy: ClientPolicy, sent: list[SentNotice]) -> None:
        """The email is the contract's notice: its stage is done, with the message ids."""
        wanted = notification.contract_obligation_id(policy.id)
        obligations = self._ctx.view.obligations
        clock = next((c for c in obligations if c.id == wanted and c.in_force), None)
        stage = clock.stage("notification") if clock else None
        if clock is None or stage is None:
            return
        if stage.status in (ClockStatus.DONE, ClockStatus.CANCELLED):
            return
        await self._clocks.stage_done(clock, stage, NOTIFIER, ", ".join(n.message_id for n in sent))

    async def _chase(
        self,
        policy: ClientPolicy,
        contacts: list[Recipient],
        first: int = 0,
        since: datetime | None = None,
    ) -> None:
        """Each wait is a durable timer named for what follows it, so the history reads as the
        escalation it is. A continued run starts at step `first`, waiting since `since`."""
        terms = policy.client_ack
        steps = [
            (terms.remind_after, "reminder to the same contacts"),
            (terms.alternates_after, "alternate contacts"),
            (terms.escalate_after, f"alert {terms.account_manager}"),
        ]
        for number, (wait, then) in enumerate(steps):
            if number < first:
                continue
            started = since if number == first and since is not None else workflow.now()
            self._chasing = NoticeCarry(step=number, since=started)
            left = started + wait - workflow.now()
            try:
                if left > timedelta(0):
                    await workflow.wait_condition(
                        self.acknowledged,
                        timeout=left,
                        timeout_summary=f"Client acknowledgement — {then} after "
                        f"{escalation.format_duration(wait)}",
                    )
                    self._chasing = NoticeCarry()
                    return
            except TimeoutError:
                pass
            if self.acknowledged():
                self._chasing = NoticeCarry()
                return
            with self._ctx.effect():
                self._ctx.record(
                    "client_ack_timeout",
                    f"No acknowledgement from the client within "
                    f"{escalation.format_duration(wait)}; next: {then}",
                )
                if number == 0:
                    if await self._send_notices(policy, notification.REMINDER, contacts):
                        await self._ctx.comment(
                            "Client has not acknowledged; reminder sent to "
                            f"{notification.contact_label(contacts)}"
                        )
                elif number == 1:
                    await self._notify_alternates(policy)
                else:
                    await self._alert_account_manager(policy)
        self._chasing = NoticeCarry()

    async def _notify_alternates(self, policy: ClientPolicy) -> None:
        alternates = [_recipient(c) for c in policy.client_ack.alternate_contacts]
        if not alternates:
            self._ctx.record(
                "client_no_alternates", "The client policy names no alternate contacts"
            )
            return
        assert self._ctx.view.client_notification is not None
        self._ctx.view.client_notification.recipients += [a.email for a in alternates]
        if await self._send_notices(policy, notification.ALTERNATES, alternates):
            await self._ctx.comment(
                "Client has still not acknowledged; alternate contacts notified: "
                f"{notification.contact_label(alternates)}"
            )

    async def _alert_account_manager(self, policy: ClientPolicy) -> None:
        view = self._ctx.view
        target = policy.client_ack.account_manager
        key = notification.ack_key(view.workflow_id)
        sent = view.client_notification
        assert sent is not None
        notified = ", ".join(sorted({n.to for n in sent.notices}))
        try:
            await workflow.execute_activity_method(
                PagingActivities.trigger_page,
                PageRequest(
                    dedup_key=key,
                    summary=f"{policy.name} has not acknowledged the notice of incident "
                    f"{view.incident_id} ({view.severity})",
                    severity="warning",
                    custom_details={
                        "incident": view.incident_id,
                        "client": view.client,
                        "targets": target,
                        "notified": notified,
                    },
                    workflow_id=view.workflow_id,
                    jira_key=view.jira_key,
                ),
                start_to_close_timeout=EFFECT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=EFFECT_RETRY,
                summary=f"Alert {target}: client has not acknowledged",
            )
        except ActivityError as err:
            self._ctx.record("client_ack_alert_failed", f"{target} not alerted: {err.cause}")
        else:
            sent.escalated_to = target
            sent.escalation_key = key
            self._ctx.record(
                "client_ack_escalated", f"Client has not acknowledged; {target} alerted"
            )
        await self._ctx.comment(
            f"The client has not acknowledged the incident notice (sent to {notified}). "
            f"The account manager ({target}) has been alerted to reach them directly."
        )


def _recipient(contact: SecurityContact) -> Recipient:
    return Recipient(name=contact.name, email=contact.email, language=contact.language)
