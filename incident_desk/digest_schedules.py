"""One Temporal Schedule per client policy that starts the weekly DigestWorkflow.

Two callers, two intents:
- the worker at start-up (so `make run` and every deployment has them) only *creates* the
  schedules that are missing, so it never undoes what an operator changed;
- `incident-desk digest schedule` creates or *updates* them to the given day and hour, the
  operator's explicit choice.
Both are idempotent: the schedule id is `digest-<client>`, and a second create finds it.

The calendar is in the client's own time zone (policy `timezone`), so "Monday 08:00" is the
client's Monday morning, daylight saving included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum
from pathlib import Path
from typing import Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from incidents.policy import ClientPolicy, load_policies
from workflows.digest import WORKFLOW_TYPE, DigestRequest

SCHEDULE_PREFIX = "digest-"
# A digest missed while the cluster was down is still sent if it comes back within a day;
# later than that, next week's is the useful one.
CATCHUP_WINDOW = timedelta(days=1)


class Weekday(IntEnum):
    """Temporal's calendar numbers days from Sunday = 0."""

    sun = 0
    mon = 1
    tue = 2
    wed = 3
    thu = 4
    fri = 5
    sat = 6


@dataclass(frozen=True)
class DigestTime:
    weekday: Weekday = Weekday.mon
    hour: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.hour <= 23:
            raise ValueError(f"hour {self.hour}: must be 0 to 23")


def schedule_id(client: str) -> str:
    return f"{SCHEDULE_PREFIX}{client}"


def digest_schedule(policy: ClientPolicy, task_queue: str, when: DigestTime) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_TYPE,
            DigestRequest(client=policy.id),
            id=schedule_id(policy.id),
            task_queue=task_queue,
            execution_timeout=timedelta(days=2),
            static_summary=f"Weekly digest · {policy.id}",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_week=[ScheduleRange(int(when.weekday))],
                    hour=[ScheduleRange(when.hour)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                    comment=f"weekly, {when.weekday.name} {when.hour:02d}:00 {policy.timezone}",
                )
            ],
            time_zone_name=policy.timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
    )


Outcome = Literal["created", "updated", "kept"]


async def ensure_digest_schedules(
    client: Client,
    policies_dir: Path,
    task_queue: str,
    *,
    when: DigestTime | None = None,
    update: bool = False,
    only: str | None = None,
) -> dict[str, Outcome]:
    """Schedule id -> what was done. `update=False` keeps an existing schedule as it is."""
    policies = load_policies(policies_dir)
    if only is not None:
        if only not in policies:
            raise KeyError(f"no client policy '{only}' in {policies_dir / 'clients'}")
        policies = {only: policies[only]}
    when = when or DigestTime()
    done: dict[str, Outcome] = {}
    for policy in policies.values():
        wanted = digest_schedule(policy, task_queue, when)
        sid = schedule_id(policy.id)
        try:
            await client.create_schedule(sid, wanted)
            done[sid] = "created"
            continue
        except ScheduleAlreadyRunningError:
            pass
        if not update:
            done[sid] = "kept"
            continue

        def replace(_: ScheduleUpdateInput, wanted: Schedule = wanted) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await client.get_schedule_handle(sid).update(replace)
        done[sid] = "updated"
    return done
