"""Check real HTTP exchanges with a stand-in against a vendor's published OpenAPI contract.

A stand-in is only worth having if it answers like the real service, so contract tests record
every request/response that really crossed the socket (the stand-in app is wrapped in an
`ExchangeRecorder`) and validate both halves with openapi-core against the vendor's file in
`../shared/specs` (see its README). Reusable for any stand-in and any OpenAPI 3 file:

    contract = Contract("pagerduty-events-v2-openapi.json")
    recorder = ExchangeRecorder(create_app(...))
    with run_app(recorder) as url:
        ...drive it with the real client library...
    assert_conform(contract, recorder.exchanges)

Relaxations are explicit and narrow: a `Contract` carries spec patches and format checkers,
each of which must say which documented defect (or vendor/spec disagreement) it covers. The Jira
ones live at the bottom of this module.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from jsonschema.exceptions import ValidationError
from openapi_core import OpenAPI
from openapi_core.configurations import Config
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import MissingData
from openapi_schema_validator import OAS30Validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SHARED_DIR_ENV = "INCIDENT_DESK_SHARED_DIR"

SpecPatch = Callable[[dict[str, Any]], None]
FormatCheck = Callable[[Any], bool]

# ------------------------------------------------------------------------------------------------
# Loading specs (once per test session: the Jira v2 YAML alone takes over a second to parse)
# ------------------------------------------------------------------------------------------------


def specs_dir() -> Path:
    """`<shared>/specs`, where <shared> is $INCIDENT_DESK_SHARED_DIR or ../shared beside the repo."""
    override = os.environ.get(SHARED_DIR_ENV)
    shared = Path(override) if override else Path(__file__).resolve().parents[3] / "shared"
    return shared / "specs"


_load_lock = threading.Lock()


@functools.cache
def _load_spec_cached(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        if path.suffix in (".yaml", ".yml"):
            return yaml.load(fh, Loader=yaml.CSafeLoader)  # the C-accelerated *safe* loader
        return json.load(fh)


def load_spec(name: str) -> dict[str, Any]:
    """The parsed spec file `name` from `specs_dir()`; shared, so treat it as read-only."""
    path = specs_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set {SHARED_DIR_ENV} to the shared directory")
    with _load_lock:
        return _load_spec_cached(path)


@dataclass(frozen=True)
class Contract:
    """One spec file plus the relaxations a suite applies to it.

    `patches` edit a private deep copy of the spec; `formats` replace format checkers by name.
    Both are part of the cache key, so contracts with different relaxations never share state.
    """

    spec_name: str
    patches: tuple[SpecPatch, ...] = ()
    formats: tuple[tuple[str, FormatCheck], ...] = ()
    label: str = ""

    def __str__(self) -> str:
        return self.label or self.spec_name

    @property
    def document(self) -> dict[str, Any]:
        return _document(self)

    @property
    def api(self) -> OpenAPI:
        return _openapi(self)

    @property
    def host_url(self) -> str:
        """scheme://host matching the spec's first server; request paths carry the rest.

        The stand-in runs on http://127.0.0.1:<port>, while contracts name the vendor's host
        (`https://{your-domain}`, `http://{baseurl}/rest`, `https://events.pagerduty.com/v2`),
        and openapi-core matches the full URL. Only the path is the stand-in's to get right, so
        requests are re-hosted here; the server URL's own path prefix (`/rest`, `/v2`) must
        still appear in the stand-in's paths, and is checked that way.
        """
        servers = self.document.get("servers") or [{"url": "http://sandbox.example"}]
        server = servers[0]
        variables = server.get("variables", {})

        def substitute(match: re.Match[str]) -> str:
            var = variables.get(match[1], {})
            return str(var.get("default", "sandbox.example"))

        url = re.sub(r"\{([^}]+)\}", substitute, server["url"])
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    def has_operation(self, method: str, path: str) -> bool:
        """Whether the spec describes `method path` at all (e.g. to skip Cloud-only routes)."""
        try:
            APICallPathFinder(self.api.spec).find(method.lower(), self.host_url + path)
        except PathError:
            return False
        return True

    def component_validator(self, schema_name: str) -> OAS30Validator:
        """A validator for `#/components/schemas/<schema_name>`, honouring this contract's formats."""
        return _component_validator(self, schema_name)


_build_lock = threading.RLock()


@functools.cache
def _document_cached(contract: Contract) -> dict[str, Any]:
    spec = load_spec(contract.spec_name)
    if not contract.patches:
        return spec
    patched = copy.deepcopy(spec)
    for patch in contract.patches:
        patch(patched)
    return patched


def _document(contract: Contract) -> dict[str, Any]:
    with _build_lock:
        return _document_cached(contract)


@functools.cache
def _openapi_cached(contract: Contract) -> OpenAPI:
    # The default spec check is slow on these files and rejects the Data Center one (duplicate
    # operationId); we validate traffic, not the vendor's file.
    config = Config(spec_validator_cls=None, extra_format_validators=dict(contract.formats))
    return OpenAPI.from_dict(_document(contract), config=config)


def _openapi(contract: Contract) -> OpenAPI:
    with _build_lock:
        return _openapi_cached(contract)


@functools.cache
def _component_validator_cached(contract: Contract, schema_name: str) -> OAS30Validator:
    document = _document(contract)
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    checker = copy.deepcopy(OAS30Validator.FORMAT_CHECKER)
    for name, check in contract.formats:
        checker.checks(name)(check)
    return OAS30Validator(schema, format_checker=checker)


def _component_validator(contract: Contract, schema_name: str) -> OAS30Validator:
    with _build_lock:
        return _component_validator_cached(contract, schema_name)


# ------------------------------------------------------------------------------------------------
# Recording exchanges
# ------------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP request and its response, as they crossed the wire."""

    method: str
    path: str
    query: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int = 0
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""

    def request_header(self, name: str) -> str | None:
        return _header(self.request_headers, name)

    def response_header(self, name: str) -> str | None:
        return _header(self.response_headers, name)

    def json(self) -> Any:
        return json.loads(self.response_body)

    def __str__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"{self.method} {self.path}{query} -> {self.status}"


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name.lower():
            return value
    return None


class ExchangeRecorder:
    """ASGI wrapper that records every HTTP exchange passing through to `app`.

    Wrapping (instead of adding middleware) leaves the app under test untouched. Lifespan and
    websocket traffic pass straight through.
    """

    def __init__(self, app: ASGIApp, *, include: Callable[[str], bool] | None = None) -> None:
        self.app = app
        self.include = include or (lambda path: True)
        self.exchanges: list[Exchange] = []
        self._lock = threading.Condition()
        self._in_flight = 0

    def _settle(self, timeout: float = 5.0) -> None:
        """Wait until no exchange is half-done: a client can hold its answer a moment before
        the server-side task that served it has finished and recorded it."""
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout=timeout)

    def clear(self) -> None:
        self._settle()
        with self._lock:
            self.exchanges.clear()

    def take(self) -> list[Exchange]:
        """The exchanges recorded so far, forgetting them."""
        self._settle()
        with self._lock:
            taken, self.exchanges = self.exchanges, []
        return taken

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.include(scope["path"]):
            await self.app(scope, receive, send)
            return
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            request_headers=[
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
            ],
            request_body=b"",
        )
        body = bytearray()
        response = bytearray()
        expected_length: list[int] = []
        recorded = False

        async def recv() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            exchange.request_body = bytes(body)
            exchange.response_body = bytes(response)
            with self._lock:
                self.exchanges.append(exchange)

        async def snd(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                ]
                length = exchange.response_header("content-length")
                if length is not None and length.isdigit():
                    expected_length.append(int(length))
                if expected_length == [0]:
                    record()
            elif message["type"] == "http.response.body":
                response.extend(message.get("body", b""))
                # Record before the client can have the whole answer: once Content-Length
                # bytes are out it may already be reading the next exchange, while the closing
                # empty message (streaming middleware sends one) can come later.
                complete = bool(expected_length) and len(response) >= expected_length[0]
                if complete or not message.get("more_body", False):
                    record()
            await send(message)

        with self._lock:
            self._in_flight += 1
        try:
            await self.app(scope, recv, snd)
        finally:
            record()
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()


# ------------------------------------------------------------------------------------------------
# Validating exchanges
# ------------------------------------------------------------------------------------------------


def _mock_request(contract: Contract, exchange: Exchange) -> MockRequest:
    headers = {k: v for k, v in exchange.request_headers if k.lower() != "host"}
    return MockRequest(
        contract.host_url,
        exchange.method,
        exchange.path,
        # a list of pairs keeps repeated query parameters (fields=a&fields=b)
        args=parse_qsl(exchange.query, keep_blank_values=True),  # type: ignore[arg-type]
        headers=headers,
        data=exchange.request_body or None,
        content_type=exchange.request_header("content-type") or "application/json",
    )


def _mock_response(exchange: Exchange) -> MockResponse:
    return MockResponse(
        exchange.response_body,
        status_code=exchange.status,
        headers=dict(exchange.response_headers),
        content_type=exchange.response_header("content-type") or "application/json",
    )


def _describe(error: BaseException) -> str:
    """openapi-core wraps the useful jsonschema errors; surface them with their JSON paths."""
    details: list[str] = []
    cause: BaseException | None = error
    while cause is not None:
        for schema_error in getattr(cause, "schema_errors", ()) or ():
            if isinstance(schema_error, ValidationError):
                where = "/".join(str(p) for p in schema_error.absolute_path) or "<root>"
                details.append(f"{where}: {schema_error.message}")
        cause = cause.__cause__
    text = f"{type(error).__name__}: {error}"
    if details:
        text = f"{type(error).__name__}: " + "; ".join(details)
    return text


def _is_unconstrained(schema: Mapping[str, Any]) -> bool:
    return not (set(schema) - {"title", "description"})


def _declares_no_real_body(contract: Contract, exchange: Exchange) -> bool:
    """True when the spec's response 'content' is a placeholder that real servers leave empty.

    Atlassian's generator emits `content: {application/json: {schema: {}}}` (the v2 YAML turns
    it into a `{title: ...R204}` stub) on responses that Jira sends without a body: 204s and
    the 200/201 of PUT issue property. An HTTP 204 cannot carry content at all. So an empty
    body is accepted exactly when the declared schema constrains nothing.
    """
    try:
        found = APICallPathFinder(contract.api.spec).find(
            exchange.method.lower(), contract.host_url + exchange.path
        )
    except PathError:
        return False
    responses = found.operation / "responses"
    status = str(exchange.status)
    if status not in responses:
        return False
    response = responses / status
    if "content" not in response:
        return True
    for _media, media_type in (response / "content").str_items():
        if "schema" not in media_type:
            continue
        with (media_type / "schema").resolve() as resolved:
            if not _is_unconstrained(resolved.contents):
                return False
    return True


def validate_exchange(
    contract: Contract, exchange: Exchange, *, request: bool = True, response: bool = True
) -> list[str]:
    """Everything wrong with `exchange` according to `contract`; empty when it conforms."""
    problems: list[str] = []
    mock_request = _mock_request(contract, exchange)
    with warnings.catch_warnings():
        # openapi-core warns for security schemes it cannot check (OAuth2); basic auth is checked.
        warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
        if request:
            for error in contract.api.iter_request_errors(mock_request):
                problems.append(f"{contract}: request {exchange}: {_describe(error)}")
        if response:
            for error in contract.api.iter_response_errors(mock_request, _mock_response(exchange)):
                if (
                    isinstance(error, MissingData)
                    and not exchange.response_body
                    and _declares_no_real_body(contract, exchange)
                ):
                    continue
                problems.append(f"{contract}: response {exchange}: {_describe(error)}")
    return problems


def validate_component(contract: Contract, schema_name: str, instance: Any) -> list[str]:
    """Errors of `instance` against `#/components/schemas/<schema_name>` of the contract."""
    validator = contract.component_validator(schema_name)
    return [
        f"{contract}: {schema_name} at {'/'.join(str(p) for p in e.absolute_path) or '<root>'}: "
        f"{e.message}"
        for e in validator.iter_errors(instance)
    ]


def assert_conform(
    contract: Contract,
    exchanges: Iterable[Exchange],
    *,
    request: bool = True,
    response: bool = True,
) -> int:
    """Fail with every problem found; returns how many exchanges were checked."""
    problems: list[str] = []
    count = 0
    for exchange in exchanges:
        count += 1
        problems.extend(validate_exchange(contract, exchange, request=request, response=response))
    if problems:
        raise AssertionError(f"{len(problems)} contract violation(s):\n" + "\n".join(problems))
    return count


# ------------------------------------------------------------------------------------------------
# Jira contracts and their relaxations
# ------------------------------------------------------------------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_JIRA_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")


def jira_date_time(value: Any) -> bool:
    """`format: date-time`, also accepting Jira's own offset style.

    Jira (Cloud and Data Center) writes timestamps as `2026-11-28T22:45:16.000+0000`: a
    numeric offset without the colon RFC 3339 requires. Atlassian's own examples in these files
    use that form (e.g. ServerInformation.buildDate), and pycontribs/jira parses it, so a
    stand-in must send it. Only that exact shape is added; anything else must still be RFC 3339.
    """
    if not isinstance(value, str):
        return True  # formats constrain strings only
    return bool(_RFC3339.match(value) or _JIRA_TIMESTAMP.match(value))


JIRA_CLOUD_V2 = Contract(
    "jira-cloud-platform-v2-openapi.yaml",
    formats=(("date-time", jira_date_time),),
    label="Jira Cloud v2",
)


def _dc_list_endpoints_return_arrays(spec: dict[str, Any]) -> None:
    """DC defect (specs README §3): these list endpoints declare one item instead of an array."""
    for path in ("/api/2/field", "/api/2/project", "/api/2/issuetype", "/api/2/status"):
        media = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        media["schema"] = {"type": "array", "items": media["schema"]}


def _dc_issue_field_values_are_free_form(spec: dict[str, Any]) -> None:
    """DC defect (specs README §3): issue field values are typed `object`.

    Real values are strings (summary), arrays (labels), null (assignee) or objects, in issues
    read (IssueBean) and written (IssueUpdateBean) alike; the Cloud file types them as `{}`.
    """
    schemas = spec["components"]["schemas"]
    schemas["IssueBean"]["properties"]["fields"]["additionalProperties"] = {}
    schemas["IssueUpdateBean"]["properties"]["fields"]["additionalProperties"] = {}


def _dc_property_values_are_any_json(spec: dict[str, Any]) -> None:
    """DC defect: an entity property value is typed `string` (`format: json`).

    The generator saw the Java method's raw body string; on the wire the value is any JSON
    value, as the Cloud file (schema `{}`) and Atlassian's own example value (an object) show.
    """
    operation = spec["paths"]["/api/2/issue/{issueIdOrKey}/properties/{propertyKey}"]["put"]
    operation["requestBody"]["content"]["application/json"]["schema"] = {}
    spec["components"]["schemas"]["EntityPropertyBean"]["properties"]["value"] = {}


JIRA_DC_10_3 = Contract(
    "jira-dc-10.3-openapi.json",
    patches=(
        _dc_list_endpoints_return_arrays,
        _dc_issue_field_values_are_free_form,
        _dc_property_values_are_any_json,
    ),
    formats=(("date-time", jira_date_time),),
    label="Jira DC 10.3",
)
