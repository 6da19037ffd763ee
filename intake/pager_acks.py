"""What the pager webhooks share: a bounded body, a typed parse, and the acknowledgement itself.

PagerDuty and Opsgenie differ in how a delivery proves where it came from and in its shape; once
that is settled, an acknowledgement of one of our pages is the same act for both, with answers
chosen for pagers that retry anything but a 2xx: what will never succeed is a 202 saying why,
and only a temporary failure on our side (Temporal unreachable) is worth their retry.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from incidents.escalation import workflow_id_from_page_key
from incidents.lifecycle import Action
from workflows.incident import IncidentWorkflow
from workflows.names import WORKFLOW_ID_PREFIX

log = logging.getLogger("incident_desk.intake.webhooks")

# Pager deliveries are a few KB; anything far larger is not one of them.
MAX_BODY_BYTES = 256 * 1024

Delivery = TypeVar("Delivery", bound=BaseModel)


def answer(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


async def read_limited(request: Request) -> bytes | None:
    """The raw body, or None once it passes the limit (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_delivery(body: bytes, model: type[Delivery], what: str) -> Delivery | JSONResponse:
    """The delivery, or a 400 that names what is wrong with it."""
    try:
        return model.model_validate(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return answer(400, "body is not valid JSON")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return answer(400, f"not {what}: {problems}")


async def acknowledge_page(
    request: Request, *, key: str, by: str, pager: str, update_id: str | None
) -> JSONResponse:
    """Acknowledge the incident whose page `key` names, as the API would, once per `update_id`."""
    workflow_id = workflow_id_from_page_key(key)
    if not workflow_id.startswith(WORKFLOW_ID_PREFIX):
        return answer(202, f"ignored: '{key[:200]}' is not an Incident Desk page")
    channel = pager.lower()
    action = Action(by=by[:200], channel=channel, note=f"Acknowledged on {pager} ({key})")
    try:
        view = await request.app.state.intake.act(
            workflow_id, IncidentWorkflow.acknowledge, action, update_id
        )
    except HTTPException as exc:
        if exc.status_code in (404, 409):
            log.info("%s acknowledgement for %s not applied: %s", pager, key, exc.detail)
            return answer(202, f"ignored: {exc.detail}")
        return answer(exc.status_code, str(exc.detail))
    return answer(
        200,
        "acknowledged",
        workflow_id=workflow_id,
        acknowledged_by=view.acknowledged_by,
        acknowledged_via=view.acknowledged_via,
    )
