"""Telling "the run is not ready yet" (ask again) from "the incident is closed" (answer 409):
both arrive as FAILED_PRECONDITION, only the first carries WorkflowNotReadyFailure."""

from __future__ import annotations

from google.protobuf.any_pb2 import Any as AnyProto
from google.rpc.status_pb2 import Status
from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.service import RPCError, RPCStatusCode

from intake.queries import not_ready


def _status(message: str, *details: WorkflowNotReadyFailure) -> bytes:
    packed = []
    for detail in details:
        wrapped = AnyProto()
        wrapped.Pack(detail)
        packed.append(wrapped)
    return Status(
        code=RPCStatusCode.FAILED_PRECONDITION, message=message, details=packed
    ).SerializeToString()


def test_a_run_that_has_not_started_its_first_task_is_asked_again() -> None:
    message = "not ready"  # the detail decides, whatever the wording
    error = RPCError(
        message,
        RPCStatusCode.FAILED_PRECONDITION,
        _status(message, WorkflowNotReadyFailure()),
    )
    assert not_ready(error)


def test_a_closed_workflow_is_not_retried() -> None:
    message = "workflow execution already completed"
    closed = RPCError(message, RPCStatusCode.FAILED_PRECONDITION, _status(message))
    assert not not_ready(closed)
    missing = RPCError("not found", RPCStatusCode.NOT_FOUND, b"")
    assert not not_ready(missing)
