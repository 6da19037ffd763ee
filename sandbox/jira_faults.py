"""Failures injected into the Jira stand-in on request (`POST /sandbox/faults`).

Retry and timeout behaviour can only be tested against a server that misbehaves on cue; these
faults are consumed by the first matching /rest requests. See `sandbox.jira` for the route.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass

from pydantic import BaseModel, Field, model_validator


class FaultSpec(BaseModel):
    status: int | None = Field(None, ge=400, le=599)
    count: int = Field(1, ge=1)
    # Whole seconds: HTTP's delay-seconds form, and what pycontribs/jira's int() parses.
    retry_after: int | None = Field(None, ge=0)
    path: str | None = None
    method: str | None = None
    delay: float = Field(0.0, ge=0, le=60)

    @model_validator(mode="after")
    def _does_something(self) -> FaultSpec:
        if self.status is None and self.delay == 0:
            raise ValueError("a fault needs a status, a delay, or both")
        return self


@dataclass
class Fault:
    id: int
    status: int | None
    remaining: int
    retry_after: int | None
    path: str | None
    method: str | None
    delay: float

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


class FaultInjector:
    """Failures queued by tests; consumed by the first matching /rest requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec) -> Fault:
        fault = Fault(
            id=next(self._ids),
            status=spec.status,
            remaining=spec.count,
            retry_after=spec.retry_after,
            path=spec.path,
            method=spec.method,
            delay=spec.delay,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return [Fault(**asdict(f)) for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
