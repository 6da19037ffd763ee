"""Heartbeats for every activity that runs longer than a moment, so a dead worker is noticed.

Without heartbeats Temporal learns that a worker died (SIGKILL, OOM, a lost node) only when the
activity's start-to-close timeout runs out, and an incident's page waits that long. With a short
`heartbeat_timeout` in the activity options, the activity is retried elsewhere once that much
time passes without a heartbeat; a live worker must therefore heartbeat for anything slower.

One interceptor does it for every activity, including those whose work runs in a thread (the
blocking `jira` library): the heartbeat comes from the worker's event loop, so it says "this
worker process is alive and still running the activity", which is exactly what the timeout is
for. A call that hangs while the process lives is bounded by start-to-close and by each
client's own request timeout, not by heartbeats. Activities that finish within `after` (nearly
all of them) send no heartbeat at all, so the server does no extra work for them. An activity
that heartbeats details of its own (to resume from them) would have them overwritten with none:
none of ours does; such an activity should be left out here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

# The first heartbeat after this long, then one per interval. Both well under the 5 s heartbeat
# timeout proposed for the effect activities (docs/benchmarks.md, "Recovery"), so that a busy
# event loop delaying a beat by a second or two does not fail a healthy activity.
FIRST_AFTER_S = 1.0
INTERVAL_S = 1.0


class KeepAliveInterceptor(Interceptor):
    """Register on the worker: `Worker(..., interceptors=[KeepAliveInterceptor()])`."""

    def __init__(self, *, after: float = FIRST_AFTER_S, interval: float = INTERVAL_S) -> None:
        self._after = after
        self._interval = interval

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _KeepAlive(next, self._after, self._interval)


class _KeepAlive(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, after: float, interval: float) -> None:
        super().__init__(next)
        self._after = after
        self._interval = interval

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if not inspect.iscoroutinefunction(input.fn):
            # A sync activity runs in an executor thread with its own heartbeat plumbing; all of
            # ours are async, and this keeps the interceptor harmless if one ever is not.
            return await super().execute_activity(input)
        beats = asyncio.create_task(self._beat())
        try:
            return await super().execute_activity(input)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats

    async def _beat(self) -> None:
        # The SDK throttles what reaches the server (to 0.8 × heartbeat_timeout when one is
        # set), so beating once a second costs the server at most one call per throttle window.
        await asyncio.sleep(self._after)
        while True:
            activity.heartbeat()
            await asyncio.sleep(self._interval)
