"""The Incident Desk worker: runs IncidentWorkflow and its activities on the `incident-desk` queue.

Standalone for production (`python worker.py`, configured by environment variables, see README)
and started by `incident-desk up` for the embedded stack. SIGINT/SIGTERM let in-flight
activities finish before the process exits, so a deploy does not cut a Jira call in half.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.checklists import ChecklistActivities
from activities.digest import DigestActivities
from activities.health import HealthReporter, IntegrationHealthInterceptor
from activities.jira import JiraActivities
from activities.jira_review import JiraReviewActivities
from activities.jira_writeback import JiraWriteBackActivities
from activities.keepalive import KeepAliveInterceptor
from activities.namespaces import NamespaceClients
from activities.notify import NotifyActivities
from activities.obligations import ObligationActivities
from activities.operations import OperationsActivities
from activities.paging import Links, PagingActivities, PolicyRouting, temporal_client_lookup
from activities.policies import PolicyActivities
from activities.policy_files import PolicyFiles
from incident_desk.config import ConfigError, load_settings
from incident_desk.connection import connect_configured, encryption_notice, temporal_notice
from incident_desk.digest_schedules import ensure_digest_schedules
from incident_desk.health import WorkerHealth, serve_health
from incident_desk.jira_sites import configured_sites, policy_site_problems
from incident_desk.namespaces import Namespaces, clients_for
from incident_desk.settings import Settings
from incidents.policy import load_policies
from integrations.pagerduty import PagerDutyClient
from integrations.pagers import build_pagers
from integrations.smtp import Mailer, smtp_config
from integrations.telemetry import configure_tracing, metrics_runtime
from workflows.digest import DigestWorkflow
from workflows.incident import IncidentWorkflow
from workflows.integration_health import HealthConfig, IntegrationHealthWorkflow
from workflows.metrics import IncidentMetricsInterceptor

log = logging.getLogger("incident_desk.worker")


def health_config(settings: Settings, integration: str) -> HealthConfig:
    """What an integration's health workflow starts with (docs/reliability.md, "Outages")."""
    return HealthConfig(
        integration=integration,  # type: ignore[arg-type]
        ops_target=settings.ops_target,
        ops_email=settings.ops_email,
        failures=settings.degraded_after_failures,
        after=timedelta(seconds=settings.degraded_after_seconds),
    )


def build_workers(clients: NamespaceClients, settings: Settings) -> dict[str, Worker]:
    """One Worker per namespace polled, on the same task queue, sharing one set of activities:
    each activity reads about its workflow in that workflow's namespace (activities/
    namespaces.py). The integration-health workflows are shared infrastructure and are started
    in the default namespace only, whichever namespace the failing activity ran for."""
    default = clients.get(clients.default)
    policies = PolicyFiles(settings.policies_dir)
    client_of = temporal_client_lookup(clients)
    pager = PagerDutyClient(settings.pagerduty_enqueue_url, settings.pagerduty_routing_key)
    links = Links(
        jira_url=settings.jira_base_url,
        temporal_ui_url=settings.temporal_ui,
        namespace=settings.temporal_namespace,
    )
    jira_sites = configured_sites(settings)
    jira_activities = JiraActivities(
        jira_sites, policies, client_of, done_status=settings.jira_done_status
    )
    paging_activities = PagingActivities(
        pager,
        links,
        pagers=build_pagers(settings, pager),
        routing=PolicyRouting(settings.policies_dir),
        client_of=client_of,
    )
    policy_activities = PolicyActivities(settings.policies_dir)
    mailer = Mailer(smtp_config(settings))
    notify_activities = NotifyActivities(
        mailer,
        settings.ack_secret,
        settings.intake_base_url,
        policies=policies,
        client_of=client_of,
    )
    health = HealthReporter(
        default, settings.task_queue, lambda name: health_config(settings, name)
    )
    digest_activities = DigestActivities(
        clients, policies, mailer, ops_email=settings.ops_email, jira=jira_sites
    )
    activities = [
        policy_activities.load_client_policy,
        ChecklistActivities(settings.policies_dir).load_sop_checklist,
        ObligationActivities().assess_obligations,
        jira_activities.create_jira_ticket,
        jira_activities.comment_jira_ticket,
        jira_activities.transition_jira_ticket,
        JiraReviewActivities(jira_activities).create_review_subtask,
        JiraWriteBackActivities(
            jira_activities, settings.jira_fields.next_deadline
        ).sync_jira_ticket,
        paging_activities.trigger_page,
        paging_activities.acknowledge_page,
        paging_activities.resolve_page,
        notify_activities.send_client_notice,
        OperationsActivities(mailer).email_operations,
        digest_activities.gather_client_digest,
        digest_activities.email_client_digest,
        digest_activities.post_client_digest_to_jira,
    ]
    interceptors = [
        IncidentMetricsInterceptor(),
        IntegrationHealthInterceptor(health),
        KeepAliveInterceptor(),
    ]
    return {
        namespace: Worker(
            clients.get(namespace),
            task_queue=settings.task_queue,
            workflows=[IncidentWorkflow, IntegrationHealthWorkflow, DigestWorkflow],
            activities=activities,
            graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace),
            interceptors=interceptors,
        )
        for namespace in clients.namespaces
    }


def build_worker(client: Client, settings: Settings) -> Worker:
    """The single-namespace worker: every client in `client`'s namespace."""
    return build_workers(NamespaceClients.of(client), settings)[client.namespace]


async def _ensure_digest_schedules(
    clients: NamespaceClients, namespaces: Namespaces, settings: Settings
) -> None:
    """Create each client's weekly digest schedule, in the client's namespace, if missing (never
    changes an existing one). A failure is logged, not fatal: incidents matter more than the
    digest."""
    done: dict[str, str] = {}
    try:
        for client_id in sorted(load_policies(settings.policies_dir)):
            temporal = clients.get(namespaces.of(client_id))
            done |= await ensure_digest_schedules(
                temporal, settings.policies_dir, settings.task_queue, only=client_id
            )
    except Exception as exc:  # RPC refused (permissions on a cluster), unreadable policy
        log.warning("weekly digest schedules not ensured: %s", exc)
        return
    created = sorted(sid for sid, outcome in done.items() if outcome == "created")
    log.info("weekly digest schedules: %d in place, created %s", len(done), created or "none")


class _AllWorkers:
    """What the health probes ask of "the worker", answered for every namespace's at once:
    polling only while all of them poll."""

    def __init__(self, workers: dict[str, Worker], task_queue: str) -> None:
        self._workers = workers
        self.task_queue = (
            task_queue if len(workers) == 1 else (f"{task_queue} in {', '.join(workers)}")
        )

    @property
    def is_running(self) -> bool:
        return all(w.is_running for w in self._workers.values())


async def connect_namespaces(
    settings: Settings, namespaces: Namespaces, **options: Any
) -> NamespaceClients:
    """One connection, a client per namespace in use (incident_desk/namespaces.py)."""
    default = await connect_configured(settings, **options)
    return NamespaceClients(clients_for(default, namespaces.all()), namespaces.default)


async def run_worker(settings: Settings) -> None:
    provider = configure_tracing("incident-desk-worker", settings.otlp_endpoint)
    namespaces = Namespaces.from_dir(settings.temporal_namespace, settings.policies_dir)
    clients = await connect_namespaces(
        settings,
        namespaces,
        tracer_provider=provider,
        runtime=metrics_runtime(settings.metrics_address),
    )
    log.info("%s", temporal_notice(settings))
    log.info("%s", encryption_notice(settings))
    if namespaces.separated:
        log.info("polling namespaces %s (client policies name their own)", namespaces.all())
    if settings.metrics_address:
        log.info("Prometheus metrics at http://%s/metrics", settings.metrics_address)
    workers = build_workers(clients, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    health = WorkerHealth(clients.get(clients.default))
    probes = None
    if settings.worker_health_port is not None:
        probes = await serve_health(health, settings.host, settings.worker_health_port)
    # Every namespace's worker runs until a stop is asked or one of them fails (a namespace
    # missing on the cluster, say); then all drain together, so the process never goes on
    # half-polling.
    runs = {ns: asyncio.create_task(w.run(), name=f"worker {ns}") for ns, w in workers.items()}
    stopping = asyncio.create_task(stop.wait())
    failed: BaseException | None = None
    try:
        health.worker = _AllWorkers(workers, settings.task_queue)  # type: ignore[assignment]
        log.info("worker polling %s on %s", settings.task_queue, settings.temporal_target)
        await _ensure_digest_schedules(clients, namespaces, settings)
        await asyncio.wait([stopping, *runs.values()], return_when=asyncio.FIRST_COMPLETED)
        for namespace, run in runs.items():
            if run.done() and run.exception() is not None:
                failed = run.exception()
                log.error("worker for namespace %s failed: %s", namespace, failed)
        health.draining = True
        log.info("worker draining in-flight activities (up to %ss)", settings.worker_shutdown_grace)
        await asyncio.gather(
            *(w.shutdown() for ns, w in workers.items() if not runs[ns].done()),
            return_exceptions=True,
        )
        await asyncio.gather(*runs.values(), return_exceptions=True)
    finally:
        stopping.cancel()
        if probes is not None:
            probes.close()
    if failed is not None:
        raise SystemExit(f"worker stopped: {failed}")
    log.info("worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
        problems = policy_site_problems(settings.policies_dir, configured_sites(settings))
        if problems:
            raise ConfigError("\n".join(problems))
    except ConfigError as exc:
        raise SystemExit(f"configuration error:\n{exc}") from None
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
