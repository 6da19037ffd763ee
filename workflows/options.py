"""How the incident workflow calls the outside world, and the ids of its versioned changes.

Written once here so every concern (escalation, clocks, client notice, new stages) retries and
times out the same way, and so a patch id is never spelled twice.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Effects on outside systems retry with back-off for a bounded time; a permanent 4xx is marked
# non-retryable by the activity and fails fast.
EFFECT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
EFFECT_TIMEOUT = timedelta(seconds=30)
# A worker that dies mid-activity (SIGKILL, OOM, a lost node) is noticed after this long without
# a heartbeat, instead of after the whole start-to-close timeout. Live workers heartbeat every
# activity that runs over a second (activities/keepalive.py), threaded Jira calls included, so
# only a dead worker lets it lapse.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
# A Jira outage must not hold back the page for longer than this.
TICKET_DEADLINE = timedelta(minutes=10)
# A notice that cannot be sent within this long is reported to people rather than retried on.
NOTICE_DEADLINE = timedelta(hours=1)
DONE_STATUS = "Done"

# Patch ids are recorded in running histories: never rename one (CONTRIBUTING.md).
# Old runs page once and wait; runs started after this change walk the client's chain.
ESCALATION_CHAIN_PATCH = "escalation-chain"
# Runs started after this change assess their reporting obligations once on-call is paged and
# keep one durable timer per due stage.
REPORTING_CLOCKS_PATCH = "reporting-clocks"
# Runs started after this change email the client's security contacts once the clocks are armed
# and chase their acknowledgement.
CLIENT_NOTIFICATION_PATCH = "client-notification"
# Runs started after this change wait in TRIAGE for an agent to validate the report or dismiss it
# as a false alarm (with a triage SLA), track containment, and after resolution wait in REVIEW
# for the post-incident review before closing. Decided once, when the run starts.
VALIDATION_STAGE_PATCH = "validation-stage"
# Runs started after this change remind the incident owner when no stakeholder update was posted
# within the client's status-update interval (workflows/cadence.py).
STATUS_CADENCE_PATCH = "status-cadence"
# Runs started after this change start a level's ack timer as soon as its page is out; the
# level's Jira comment (and the obligations set going after the first page) run beside it, so a
# Jira outage cannot hold the next level back.
PAGE_TIMER_FIRST_PATCH = "page-timer-first"
# Runs started after this change wait for the Jira issue to show the final state before ending.
JIRA_FINAL_STATE_PATCH = "jira-final-state"
# Runs started after this change continue as new at the lifecycle's long waits when the history
# grows long (workflows/carry_over.py); older runs keep their single history.
CONTINUE_AS_NEW_PATCH = "continue-as-new"
# Runs started after this change stop reminding the owner after a few misses in a row, until the
# next stakeholder update or severity change (workflows/cadence.py).
CADENCE_CAP_PATCH = "cadence-cap"
