"""What every HTTP client here shares about retrying: reading Retry-After, and the signal that
an answer is worth another try. Each client keeps its own attempt counts and error types."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime


class Transient(Exception):
    """An answer worth retrying briefly (429, 5xx, no answer); never escapes a client."""

    def __init__(self, status: int | None, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After may be delta-seconds or an HTTP-date (RFC 9110); both are honoured."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
