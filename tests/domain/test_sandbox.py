"""The domain rules inside Temporal's workflow sandbox: imported, decoded and run there, with
the same results as a plain call."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from incidents.classification import Classification, classify
from incidents.facts import IncidentFacts
from incidents.obligations import holiday_tables_for
from incidents.policy import load_policy
from incidents.regimes import load_catalogue
from incidents.severity import SeverityAnswers
from tests.domain.sandbox_strict import DecodeInSandbox
from tests.domain.sandbox_workflows import ClassifyInSandbox

REPO = Path(__file__).resolve().parents[2]


async def _execute(
    env: WorkflowEnvironment, workflow: Any, args: list[Any], result_type: Any, runner: Any
) -> Any:
    queue = f"domain-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[workflow], workflow_runner=runner):
        return await env.client.execute_workflow(
            workflow.run,
            args=args,
            id=f"domain-{uuid.uuid4()}",
            task_queue=queue,
            result_type=result_type,
            # A sandbox violation fails the workflow task, which would otherwise retry forever.
            run_timeout=timedelta(seconds=30),
        )


async def test_modules_import_and_decode_strictly_in_the_default_sandbox(
    java_env: WorkflowEnvironment,
) -> None:
    facts = IncidentFacts.model_validate(
        {"aware_at": "2026-03-27T12:00:00+01:00", "jurisdictions": ["US-CA", "EU"]}
    )
    policy = load_policy(REPO / "policies/clients/cascade-health.yaml")
    result = await _execute(
        java_env,
        DecodeInSandbox,
        [facts, policy, load_catalogue()],
        list[str],
        SandboxedWorkflowRunner(),
    )
    assert result == [str(facts.aware_at), "cascade-health", "48"]


async def test_rules_in_the_sandbox_match_a_plain_call(java_env: WorkflowEnvironment) -> None:
    facts = IncidentFacts.model_validate(
        {
            "aware_at": "2026-12-23T15:00:00-03:00",
            "jurisdictions": ["BR", "US-CA", "DE"],
            "data_categories": ["health", "payment_card"],
            "sectors": ["public_company", "financial"],
            "records_affected": 1200,
            "events": {"materiality_determination": "2026-12-23T20:00:00Z"},
        }
    )
    policy = load_policy(REPO / "policies/clients/cascade-health.yaml")
    tables = holiday_tables_for(facts, policy)
    result = await _execute(
        java_env,
        ClassifyInSandbox,
        [facts, policy, load_catalogue(), tables],
        Classification,
        SandboxedWorkflowRunner(),
    )
    assert result == classify(facts, SeverityAnswers(ongoing=True), policy)
    business_day_rows = {"br_lgpd_anpd_and_data_subjects", "us_sec_8k_item_1_05"}
    assert business_day_rows <= set(result.regimes)
