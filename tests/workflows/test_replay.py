"""Every committed history must replay on today's workflow code.

A failure here means a change would break incidents already running in production: guard it
with `workflow.patched` or start a new workflow version (CONTRIBUTING.md), never re-record to
make this pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.digest import DigestWorkflow
from workflows.incident import IncidentWorkflow
from workflows.integration_health import IntegrationHealthWorkflow

HISTORIES = sorted((Path(__file__).parents[1] / "histories").glob("*.json"))
TEXTS = {path.stem: path.read_text() for path in HISTORIES}


def test_there_are_histories_to_replay() -> None:
    assert len(HISTORIES) >= 2


@pytest.mark.parametrize("name", sorted(TEXTS))
async def test_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(name, TEXTS[name])
    replayer = Replayer(
        workflows=[IncidentWorkflow, IntegrationHealthWorkflow, DigestWorkflow],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
