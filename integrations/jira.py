"""Jira, as the workflows need it: one incident issue per workflow, comments, status changes.

Built on the `jira` library (pycontribs/jira), which already knows Jira's REST quirks. What this
module adds is what an activity needs on top of it:

* Idempotent creation. Temporal retries activities, and a create that timed out may still have
  happened. Each issue is therefore marked twice: a label derived from the workflow id, set in the
  create call itself (atomic with the issue), and the issue property `incident-desk` =
  `{"workflowId": ...}` set right after. Look-ups try the property first and fall back to the
  label: an issue property is only searchable by JQL where an app indexes it (Jira Cloud indexes
  properties only for apps that declare them), and the label also covers a crash between the
  create and the property write. Jira Cloud search is eventually consistent, so a retry that
  follows a create within a second or so may still not see it; Temporal's retry back-off makes
  that window small, not zero.
* Short, bounded retries for transient failures only (429 honouring Retry-After, 502/503/504,
  connection errors), with tenacity; the library's own retry loop is switched off because it
  sleeps up to a minute per attempt, which would stall an activity past its timeout. Everything
  else becomes a `JiraRequestError` whose `retryable` flag tells the activity layer whether
  Temporal should try again.
* No secrets in errors: the library's `JIRAError.__str__` includes request headers, i.e. the
  Authorization header, so only status and Jira's own messages are carried over.

No Temporal imports here; the activities wrap this.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import jira
import pydantic
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from integrations.http_retry import parse_retry_after
from integrations.jira_fields import FieldIds

log = logging.getLogger(__name__)

PROPERTY_KEY = "incident-desk"
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
SUMMARY_MAX = 255

T = TypeVar("T")


JiraAuth = Literal["cloud", "datacenter"]


class JiraConfig(pydantic.BaseModel):
    """One Jira project on one site, and how to log in to that site.

    `auth` picks the credential form: Jira Cloud takes the account's email address (`user`) and
    an API token as HTTP basic auth; Jira Data Center takes a personal access token as a Bearer
    token, and `user` is then unused.
    """

    url: str
    user: str = ""
    token: pydantic.SecretStr
    auth: JiraAuth = "cloud"
    project: str = "SEC"
    issue_type: str = "Incident"
    custom_fields: dict[str, Any] = pydantic.Field(
        default_factory=dict, description="Set on every issue created, e.g. customfield_10050"
    )
    # Kept short: an activity must fail fast and let Temporal retry, not hang on a slow Jira.
    timeout_seconds: float = 10.0
    retry_attempts: int = pydantic.Field(3, ge=1)
    retry_max_wait_seconds: float = pydantic.Field(5.0, ge=0)


class JiraIdentity(pydantic.BaseModel):
    """A Jira user as Cloud (`accountId`) or Data Center (`name`, `key`) names it."""

    model_config = pydantic.ConfigDict(extra="ignore", populate_by_name=True)

    account_id: str | None = pydantic.Field(None, alias="accountId")
    name: str | None = None
    key: str | None = None
    email_address: str | None = pydantic.Field(None, alias="emailAddress")
    display_name: str | None = pydantic.Field(None, alias="displayName")


class JiraRequestError(Exception):
    """Jira refused or could not be reached.

    `status` is the HTTP status, or None when no HTTP answer was obtained (connection refused,
    timeout) or the problem is not an HTTP one (no transition leads to the wanted status).
    `retryable` says whether repeating the same call later can succeed: true for transient
    failures that outlived our brief retries and for 5xx, false for other 4xx, which only a
    change of input or configuration fixes.
    """

    def __init__(self, status: int | None, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(f"Jira HTTP {status}: {message}" if status else f"Jira: {message}")
        self.status = status
        self.message = message
        if retryable is None:
            retryable = status is None or status == 429 or status >= 500
        self.retryable = retryable


def correlation_label(workflow_id: str) -> str:
    """The label that ties an issue to its workflow.

    A digest rather than the id itself: Jira labels may not contain spaces and are capped at
    255 characters, while workflow ids come from callers.
    """
    digest = hashlib.sha256(workflow_id.encode()).hexdigest()[:20]
    return f"incident-desk-{digest}"


def jql_quote(value: str) -> str:
    """Quote a JQL string literal; workflow ids and labels come from outside."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _clean_summary(summary: str) -> str:
    # Jira rejects newlines and more than 255 characters with a 400 that no retry can fix.
    flat = " ".join(summary.split())
    return flat if len(flat) <= SUMMARY_MAX else flat[: SUMMARY_MAX - 1] + "…"


def _clean_label(label: str) -> str:
    # Jira rejects labels containing whitespace.
    return "-".join(label.split())[:255]


def _retry_after_seconds(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return parse_retry_after(headers.get("Retry-After") if headers is not None else None)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, jira.JIRAError):
        return exc.status_code in TRANSIENT_STATUSES
    # Connection refused/reset and timeouts: the request may not have reached Jira at all.
    return isinstance(exc, requests.ConnectionError | requests.Timeout)


def _translate(exc: BaseException) -> JiraRequestError:
    if isinstance(exc, jira.JIRAError):
        status = exc.status_code
        message = exc.text or f"HTTP {status}"
        if status is None:
            # The library raises status-less errors for protocol surprises (e.g. a create
            # answer without a key); repeating the call will not change them.
            return JiraRequestError(None, message, retryable=False)
        return JiraRequestError(status, message)
    if isinstance(exc, requests.Timeout):
        return JiraRequestError(None, f"timed out: {type(exc).__name__}", retryable=True)
    if isinstance(exc, requests.ConnectionError):
        return JiraRequestError(None, f"cannot connect: {type(exc).__name__}", retryable=True)
    # Anything else from requests (invalid URL, too many redirects) is a configuration problem.
    return JiraRequestError(None, f"request failed: {type(exc).__name__}", retryable=False)


class JiraGateway:
    """Jira operations for one project, safe to call repeatedly (activities are retried)."""

    def __init__(self, config: JiraConfig) -> None:
        self._config = config
        self._client: jira.JIRA | None = None
        self._client_lock = threading.Lock()
        # Custom fields are configured by name; their ids are this instance's (jira_fields.py).
        self.fields = FieldIds(lambda: self._call("read fields", lambda client: client.fields()))

    @property
    def config(self) -> JiraConfig:
        return self._config

    # -- plumbing --------------------------------------------------------------------------------

    def _jira(self) -> jira.JIRA:
        # Built on first use, not in __init__: constructing the client calls serverInfo, and a
        # worker must start even while Jira is unreachable.
        with self._client_lock:
            if self._client is None:
                secret = self._config.token.get_secret_value()
                credentials: dict[str, Any] = (
                    {"token_auth": secret}
                    if self._config.auth == "datacenter"
                    else {"basic_auth": (self._config.user, secret)}
                )
                self._client = jira.JIRA(
                    server=self._config.url,
                    timeout=self._config.timeout_seconds,
                    max_retries=0,
                    **credentials,
                )
            return self._client

    def _wait(self, state: RetryCallState) -> float:
        cap = self._config.retry_max_wait_seconds
        exc = state.outcome.exception() if state.outcome else None
        suggested = _retry_after_seconds(exc) if exc is not None else None
        if suggested is not None:
            return min(suggested, cap)
        return min(0.25 * 2 ** (state.attempt_number - 1), cap)

    def _call(self, what: str, operation: Callable[[jira.JIRA], T]) -> T:
        """Run `operation`, retrying transient failures briefly; translate the rest."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            status = getattr(exc, "status_code", None)
            log.warning(
                "jira %s failed transiently (%s), attempt %d of %d",
                what,
                status or type(exc).__name__,
                state.attempt_number,
                self._config.retry_attempts,
            )

        retrying = Retrying(
            stop=stop_after_attempt(self._config.retry_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_transient),
            before_sleep=before_sleep,
            reraise=True,
            sleep=time.sleep,
        )
        try:
            return retrying(lambda: operation(self._jira()))
        except (jira.JIRAError, requests.RequestException) as exc:
            raise _translate(exc) from None

    def call(self, what: str, operation: Callable[[jira.JIRA], T]) -> T:
        """One unit of retry for modules that add operations (write-back, links, search)."""
        return self._call(what, operation)

    # -- look-ups --------------------------------------------------------------------------------

    def _search_keys(self, client: jira.JIRA, jql: str) -> list[str]:
        issues = client.search_issues(
            f"{jql} ORDER BY created ASC", maxResults=10, fields="summary"
        )
        return [issue.key for issue in issues]

    def _find(self, client: jira.JIRA, workflow_id: str) -> tuple[str | None, bool]:
        """(key, marked with the property) of the oldest issue for the workflow."""
        by_property = self._search_keys(
            client, f"issue.property[{PROPERTY_KEY}].workflowId = {jql_quote(workflow_id)}"
        )
        if by_property:
            if len(by_property) > 1:
                log.warning("workflow %s has several Jira issues: %s", workflow_id, by_property)
            return by_property[0], True
        by_label = self._search_keys(
            client,
            f"project = {jql_quote(self._config.project)} "
            f"AND labels = {jql_quote(correlation_label(workflow_id))}",
        )
        if len(by_label) > 1:
            log.warning("workflow %s has several Jira issues: %s", workflow_id, by_label)
        return (by_label[0] if by_label else None), False

    def find_issue_for_workflow(self, workflow_id: str) -> str | None:
        """None means "not created yet"; both markers are tried, see the module docstring."""
        return self._call("find issue", lambda client: self._find(client, workflow_id)[0])

    def workflow_id_of(self, key: str) -> str | None:
        """The workflow id in the issue's `incident-desk` property; None if it has none.

        Read directly rather than searched: a property read is consistent at once, while Jira
        Cloud's search index may lag the write by seconds.
        """

        def read(client: jira.JIRA) -> str | None:
            try:
                value = client.issue_property(key, PROPERTY_KEY).raw.get("value")
            except jira.JIRAError as exc:
                if exc.status_code == 404:  # no such property (or issue): not ours
                    return None
                raise
            workflow_id = value.get("workflowId") if isinstance(value, dict) else None
            return workflow_id if isinstance(workflow_id, str) and workflow_id else None

        return self._call("read issue property", read)

    def myself(self) -> JiraIdentity:
        """Who Incident Desk is in Jira, to recognise its own changes in webhooks."""

        def read(client: jira.JIRA) -> JiraIdentity:
            me: dict[str, Any] = client.myself()
            return JiraIdentity.model_validate(me)

        return self._call("read myself", read)

    # -- effects ---------------------------------------------------------------------------------

    def create_incident_issue(
        self, *, workflow_id: str, summary: str, description: str, labels: list[str]
    ) -> str:
        """Returns the workflow's issue key, creating the issue only if no marker finds one.

        Meant to be repeated freely: a retried activity must end with exactly one issue.
        """

        def create(client: jira.JIRA) -> str:
            key, marked = self._find(client, workflow_id)
            if key is None:
                wanted = [_clean_label(label) for label in labels if label.strip()]
                wanted.append(correlation_label(workflow_id))
                issue = client.create_issue(
                    fields={
                        "project": {"key": self._config.project},
                        "issuetype": {"name": self._config.issue_type},
                        "summary": _clean_summary(summary),
                        "description": description,
                        "labels": list(dict.fromkeys(wanted)),
                        **self._config.custom_fields,
                    },
                    prefetch=False,
                )
                key = str(issue.key)
                log.info("created Jira issue %s for workflow %s", key, workflow_id)
            if not marked:
                client.add_issue_property(key, PROPERTY_KEY, {"workflowId": workflow_id})
            return key

        # The whole find-create-mark sequence is the unit of retry: repeating only the POST
        # after a lost answer could create a second issue.
        return self._call("create issue", create)

    def add_comment(self, key: str, body: str) -> str:
        """Comment on the issue; returns the comment id.

        Not deduplicated: a retry after a lost answer may post the comment twice, which is
        preferable to losing a lifecycle event from the ticket.
        """
        return self._call("add comment", lambda client: str(client.add_comment(key, body).id))

    def add_comment_once(self, key: str, body: str, marker: str) -> str | None:
        """Comment unless a comment containing `marker` exists; returns the new comment's id.

        For comments that answer one outside event (a webhook delivery): the event may be
        delivered again, to this or another intake instance, and must not be answered twice.
        The marker is part of the body, so it must be something a reader may see.
        """

        def comment(client: jira.JIRA) -> str | None:
            # Newest first: the event being answered is recent, and old issues have many comments.
            recent = client.comments(key, order_by="-created", max_results=100)
            if any(marker in str(c.body) for c in recent):
                return None
            return str(client.add_comment(key, body).id)

        return self._call("add comment", comment)

    def status_of(self, key: str) -> str:
        """The status name, read fresh: people move tickets in Jira behind the workflow's back."""
        return self._call(
            "read status", lambda client: str(client.issue(key, fields="status").fields.status.name)
        )

    def transition_to(self, key: str, status_name: str) -> None:
        """Move the issue to `status_name`, doing nothing if it is already there.

        Transitions are chosen by their target status, not their name: in real workflows a
        transition is often called "Resolve" or "Close" while the status is "Done".
        """

        def transition(client: jira.JIRA) -> None:
            current = str(client.issue(key, fields="status").fields.status.name)
            if current.casefold() == status_name.casefold():
                return
            transitions: list[dict[str, Any]] = client.transitions(key)
            chosen = next(
                (
                    t
                    for t in transitions
                    if str(t.get("to", {}).get("name", "")).casefold() == status_name.casefold()
                ),
                None,
            )
            if chosen is None:
                offered = ", ".join(
                    f"{t.get('name')} → {t.get('to', {}).get('name')}" for t in transitions
                )
                raise JiraRequestError(
                    None,
                    f"no transition leads {key} from {current!r} to {status_name!r}"
                    f" (available: {offered or 'none'})",
                    retryable=False,
                )
            client.transition_issue(key, str(chosen["id"]))
            log.info("moved Jira issue %s from %s to %s", key, current, status_name)

        self._call("transition", transition)
