"""The whole stack on one machine: what `make run` (`incident-desk up`) starts and stops.

Each part runs as its own process, as it would in production, so that the embedded default
exercises the same entry points: the Temporal dev server (unless TEMPORAL_ADDRESS is set), the
Jira and pager stand-ins (unless their real endpoints are set), one worker, and the intake server.
Everything they keep lives under the state directory, so stopping and starting again keeps open
incidents.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, SecretStr
from temporalio.client import Client

from incident_desk.connection import ui_codec_args
from incident_desk.jira_sites import sites_env
from incident_desk.namespaces import Namespaces, clients_for
from incident_desk.settings import Settings
from incident_desk.tokens import (
    ADMIN_TOKEN_FILE,
    TokenStore,
    TokenStoreError,
    ensure_local_admin_token,
)
from integrations.temporal import venv_binary
from workflows.names import IncidentSearchAttribute

PAGER_WEBHOOK_SECRET_FILE = "pagerduty-webhook-secret"
OPSGENIE_WEBHOOK_TOKEN_FILE = "opsgenie-webhook-token"
JIRA_WEBHOOK_SECRET_FILE = "jira-webhook-secret"
ACK_SECRET_FILE = "ack-secret"


class StackError(RuntimeError):
    """The stack could not start; the message says which part and where its log is."""


@dataclass
class Part:
    name: str
    argv: list[str]
    port: int | None
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's environment


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as environment variables, so every child process sees the same configuration.

    Unset optional endpoints stay unset: a child then knows it talks to a stand-in.
    """
    env: dict[str, str] = {}
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if value is None:
            continue
        alias = info.validation_alias.choices[0]  # type: ignore[union-attr]
        if name == "jira_sites":
            env[alias] = sites_env(value)
        elif isinstance(value, dict):
            env[alias] = json.dumps(value)
        elif isinstance(value, BaseModel):
            env[alias] = value.model_dump_json()
        elif isinstance(value, SecretStr):
            env[alias] = value.get_secret_value()
        elif isinstance(value, Path):
            env[alias] = str(value.resolve())
        else:
            env[alias] = str(value)
    return env


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class Stack:
    def __init__(self, settings: Settings, *, startup_timeout: float = 120.0) -> None:
        self.settings = settings
        self.startup_timeout = startup_timeout
        self.state_dir = settings.state_dir.resolve()
        self.log_dir = self.state_dir / "logs"
        self.admin_token_path = self.state_dir / ADMIN_TOKEN_FILE
        self.settings = self._with_pager_webhook_secret(settings)
        self.settings = self._with_jira_webhook_secret(self.settings)
        self.settings = self._with_ack_secret(self.settings)
        self.settings = self._with_opsgenie_webhook_token(self.settings)
        self.parts = self._plan()

    def _with_jira_webhook_secret(self, settings: Settings) -> Settings:
        """The Jira sandbox signs its webhooks like Jira Cloud and the intake refuses unsigned
        ones. A real Jira needs the secret that was given to its webhook, so none is invented
        for it."""
        if not settings.jira_sandboxed or settings.jira_webhook_secret is not None:
            return settings
        secret = self._state_secret(JIRA_WEBHOOK_SECRET_FILE)
        return settings.model_copy(update={"jira_webhook_secret": secret})

    def _with_ack_secret(self, settings: Settings) -> Settings:
        """The worker signs client acknowledgement links and the intake checks them; both must
        hold the same key, and a restart must keep links already sent working."""
        if settings.ack_secret is not None:
            return settings
        return settings.model_copy(update={"ack_secret": self._state_secret(ACK_SECRET_FILE)})

    def _state_secret(self, name: str) -> SecretStr:
        """A secret shared by a sandbox and the intake, made once and kept (mode 0600) in the
        state dir so that a restart keeps both sides agreeing. It reaches the children through
        their environment or a file, never the command line, so `ps` does not show it."""
        path = self.state_dir / name
        if not path.exists():
            self.state_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another start made it first; read theirs
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    file.write(secrets.token_hex(32))
        return SecretStr(path.read_text(encoding="utf-8").strip())

    def jira_webhook_url(self) -> str:
        """Where the Jira sandbox sends its webhooks: the intake, with the token if one is set."""
        s = self.settings
        url = f"{s.intake_base_url}/webhooks/jira"
        if s.jira_webhook_token is not None:
            url += "?" + urlencode({"token": s.jira_webhook_token.get_secret_value()})
        return url

    def _with_pager_webhook_secret(self, settings: Settings) -> Settings:
        """The pager sandbox signs its callbacks and the intake checks them."""
        if not settings.pager_sandboxed or settings.pagerduty_webhook_secret is not None:
            return settings
        secret = self._state_secret(PAGER_WEBHOOK_SECRET_FILE)
        return settings.model_copy(update={"pagerduty_webhook_secret": secret})

    def _with_opsgenie_webhook_token(self, settings: Settings) -> Settings:
        """The Opsgenie sandbox sends this token with its callbacks and the intake checks it."""
        if not settings.opsgenie_sandboxed or settings.opsgenie_webhook_token is not None:
            return settings
        token = self._state_secret(OPSGENIE_WEBHOOK_TOKEN_FILE)
        return settings.model_copy(update={"opsgenie_webhook_token": token})

    def _plan(self) -> list[Part]:
        s = self.settings
        py = sys.executable
        parts: list[Part] = []
        if s.embedded_temporal:
            parts.append(
                Part(
                    "temporal",
                    [
                        venv_binary("temporal"), "server", "start-dev",
                        "--ip", s.host,
                        "--port", str(s.temporal_port),
                        "--ui-port", str(s.temporal_ui_port),
                        "--db-filename", str(self.state_dir / "temporal.db"),
                        *self._namespace_args(),
                        "--ui-disable-news-fetch",
                        "--log-level", "warn",
                        *IncidentSearchAttribute.cli_args(),
                        *ui_codec_args(s),
                    ],
                    s.temporal_port,
                    ready_url=f"{s.temporal_ui}/",
                )
            )  # fmt: skip
        if s.jira_sandboxed:
            parts.append(
                Part(
                    "jira-sandbox",
                    [
                        py, "-m", "sandbox.jira",
                        "--host", s.host,
                        "--port", str(s.jira_sandbox_port),
                        "--db", str(self.state_dir / "jira.db"),
                        "--project", s.jira_project,
                        "--issue-type", s.jira_issue_type,
                        "--user", s.jira_user,
                        "--flavour", s.jira_auth,
                        "--webhook-url", self.jira_webhook_url(),
                    ],
                    s.jira_sandbox_port,
                    ready_url=f"{s.jira_base_url}/sandbox/issues",
                )
            )  # fmt: skip
        if s.pager_sandboxed:
            parts.append(
                Part(
                    "pager-sandbox",
                    [
                        py, "-m", "sandbox.pagerduty",
                        "--host", s.host,
                        "--port", str(s.pager_sandbox_port),
                        "--db", str(self.state_dir / "pagerduty.db"),
                        "--webhook-url", f"{s.intake_base_url}/webhooks/pagerduty",
                    ],
                    s.pager_sandbox_port,
                    ready_url=f"{s.pager_sandbox_url}/sandbox/events",
                )
            )  # fmt: skip
        if s.opsgenie_sandboxed:
            parts.append(
                Part(
                    "opsgenie-sandbox",
                    [
                        py, "-m", "sandbox.opsgenie",
                        "--host", s.host,
                        "--port", str(s.opsgenie_sandbox_port),
                        "--db", str(self.state_dir / "opsgenie.db"),
                        "--callback-url", f"{s.intake_base_url}/webhooks/opsgenie",
                    ],
                    s.opsgenie_sandbox_port,
                    ready_url=f"{s.opsgenie_sandbox_url}/sandbox/alerts",
                )
            )  # fmt: skip
        if s.smtp_sandboxed:
            parts.append(
                Part(
                    "smtp-sandbox",
                    [
                        py, "-m", "sandbox.smtp",
                        "--host", s.host,
                        "--port", str(s.smtp_sandbox_port),
                        "--http-port", str(s.smtp_sandbox_http_port),
                        "--db", str(self.state_dir / "smtp.db"),
                    ],
                    s.smtp_sandbox_http_port,
                    ready_url=f"{s.smtp_sandbox_url}/sandbox/messages?limit=1",
                )
            )  # fmt: skip
        parts.append(Part("worker", [py, "-m", "worker"], None))
        parts.append(
            Part(
                "intake",
                [py, "-m", "intake"],
                s.intake_port,
                ready_url=f"{s.intake_base_url}/healthz",
            )
        )
        return parts

    def namespaces(self) -> list[str]:
        """TEMPORAL_NAMESPACE and every namespace a client policy names for itself."""
        s = self.settings
        return Namespaces.from_dir(s.temporal_namespace, s.policies_dir).all()

    def _namespace_args(self) -> list[str]:
        """`--namespace X` for each: the dev server creates them at start, keeping old ones."""
        return [arg for ns in self.namespaces() for arg in ("--namespace", ns)]

    def urls(self) -> dict[str, str]:
        s = self.settings
        urls = {
            "Temporal UI": s.temporal_ui,
            "Intake API docs": f"{s.intake_base_url}/docs",
            "Jira": s.jira_base_url + (" (sandbox)" if s.jira_sandboxed else ""),
            "Jira webhooks": f"{s.intake_base_url}/webhooks/jira"
            + (" (signed)" if s.jira_webhook_secret else ""),
            "Pager": (f"{s.pager_sandbox_url}/sandbox/events (sandbox)" if s.pager_sandboxed
                      else s.pagerduty_enqueue_url),
            "Opsgenie": (f"{s.opsgenie_sandbox_url}/sandbox/alerts (sandbox)"
                         if s.opsgenie_sandboxed else s.opsgenie_base_url),
            "Mail": (f"{s.smtp_sandbox_url}/sandbox/messages (sandbox)" if s.smtp_sandboxed
                     else f"{s.smtp_host}:{s.smtp_port}"),
            "Logs": str(self.log_dir),
            "Admin API token": str(self.admin_token_path),
        }  # fmt: skip
        if s.metrics_address:
            urls["Worker metrics"] = f"http://{s.metrics_address}/metrics"
        return urls

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            ensure_local_admin_token(
                TokenStore(self.settings.token_store_path), self.admin_token_path
            )
        except (TokenStoreError, OSError) as exc:
            raise StackError(f"cannot make the local admin token: {exc}") from exc
        busy = [p for p in self.parts if p.port and _port_in_use(self.settings.host, p.port)]
        if busy:
            names = ", ".join(f"{p.name} (port {p.port})" for p in busy)
            raise StackError(
                f"ports already in use: {names}. Is another `make run` running? "
                "Stop it, or choose other ports (see README, Configuration)."
            )
        env = self._env()
        deadline = time.monotonic() + self.startup_timeout
        try:
            for part in self.parts:
                self._launch(part, env)
                if part.ready_url and part.name != "intake":
                    self._wait_ready(part, deadline)
                if part.name == "temporal":
                    self._register_search_attributes(deadline)
            self._wait_ready(self.parts[-1], deadline)
        except BaseException:
            self.stop()
            raise

    def _register_search_attributes(self, deadline: float) -> None:
        """The dev server registers its `--search-attribute` flags only when it creates its
        database; a `.state` kept from an older release lacks attributes added since, and every
        new incident would then be refused. Registering is idempotent, so do it on each start."""
        from incident_desk.connection import connect_configured
        from incident_desk.temporal_cli import SearchAttributeConflict, register_search_attributes

        async def connect() -> Client:
            # The server answers its health URL a moment before its frontend takes clients
            # ("Frontend is not healthy yet"), longer on a busy machine: retry until the deadline.
            while True:
                try:
                    return await connect_configured(self.settings)
                except RuntimeError:
                    if time.monotonic() >= deadline:
                        raise
                    await asyncio.sleep(0.25)

        async def register() -> list[str]:
            # In each namespace in use: a namespace's search attributes are its own.
            base = await connect()
            added: list[str] = []
            for namespace, client in clients_for(base, self.namespaces()).items():
                new = (await register_search_attributes(client)).added
                added += [f"{name} ({namespace})" for name in new]
            return added

        try:
            # A thread of its own: start() is also called from code that runs an event loop.
            with ThreadPoolExecutor(1) as pool:
                added = pool.submit(asyncio.run, register()).result(timeout=60)
        except SearchAttributeConflict as exc:
            raise StackError(str(exc)) from exc
        if added:
            print(f"Registered search attributes missing from {self.state_dir}: {', '.join(added)}")

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **settings_env(self.settings)}
        # The Go server reads proxies from the environment; keep local traffic local.
        env.setdefault("NO_PROXY", "127.0.0.1,localhost")
        return env

    def part(self, name: str) -> Part:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"no part {name!r}; parts: {', '.join(p.name for p in self.parts)}")

    def kill(self, name: str) -> None:
        """SIGKILL one part, as a crash or an OOM kill would: no shutdown code runs."""
        proc = self.part(name).process
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self, name: str, *, hard: bool = False) -> None:
        """Stop one part (gracefully, or with SIGKILL when `hard`) and start it again on the same
        ports and state; fault tests use it to crash a worker or bounce the Temporal server."""
        part = self.part(name)
        proc = part.process
        if proc is not None and proc.poll() is None:
            if hard:
                self.kill(name)
            else:
                proc.terminate()
                try:
                    proc.wait(timeout=self.settings.worker_shutdown_grace + 5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self._launch(part, self._env())
        if part.ready_url:
            self._wait_ready(part, time.monotonic() + self.startup_timeout)

    def add_worker(self, name: str, health_port: int) -> Part:
        """Start one more worker process on the same task queue, as a scaled-out deployment
        runs them; it is ready when its health port says it polls. Stopped with the stack."""
        part = Part(
            name,
            [sys.executable, "-m", "worker"],
            health_port,
            ready_url=f"http://{self.settings.host}:{health_port}/readyz",
            # Its own health port, and no second Prometheus listener on the first one's port.
            env={
                "INCIDENT_DESK_WORKER_HEALTH_PORT": str(health_port),
                "INCIDENT_DESK_METRICS_ADDRESS": "",
            },
        )
        self.parts.insert(len(self.parts) - 1, part)  # before the intake, which stops first
        self._launch(part, self._env())
        self._wait_ready(part, time.monotonic() + self.startup_timeout)
        return part

    def _launch(self, part: Part, env: dict[str, str]) -> None:
        assert self.log_dir
        part.log_path = self.log_dir / f"{part.name}.log"
        log = part.log_path.open("ab")
        part.process = subprocess.Popen(
            part.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, **part.env},
            start_new_session=True,
        )
        log.close()

    def _wait_ready(self, part: Part, deadline: float) -> None:
        assert part.ready_url and part.process
        last = "no answer"
        while time.monotonic() < deadline:
            if part.process.poll() is not None:
                raise StackError(
                    f"{part.name} exited with code {part.process.returncode}; "
                    f"see {part.log_path}:\n{self.log_tail(part)}"
                )
            try:
                response = httpx.get(part.ready_url, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:500]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.25)
        raise StackError(f"{part.name} not ready at {part.ready_url} in time ({last}); "
                         f"see {part.log_path}")  # fmt: skip

    def log_tail(self, part: Part, lines: int = 20) -> str:
        if part.log_path is None or not part.log_path.exists():
            return ""
        return "\n".join(part.log_path.read_text(errors="replace").splitlines()[-lines:])

    def exited(self) -> list[Part]:
        return [p for p in self.parts if p.process is not None and p.process.poll() is not None]

    def stop(self) -> None:
        """Stop in reverse order: entry points first, so nothing talks to a server that is gone."""
        grace = self.settings.worker_shutdown_grace + 5
        for part in reversed(self.parts):
            proc = part.process
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
