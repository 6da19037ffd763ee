"""Turning "72 hours", "60 days", "one month" and "four business days" into instants.

The rules, applied to every obligation alike (see docs/obligations.md):

- Hours and minutes are absolute durations: a clock that spans a DST change still lasts exactly
  that many hours, so the local wall-clock time of the deadline moves by the DST shift.
- Calendar days and months are counted on the calendar of the obligation's time zone: the
  deadline is the same local wall-clock time on the target day. Months add calendar months and
  clamp to the last day of a shorter month (31 January + P1M = 28 or 29 February).
- Business days skip the weekend and the public holidays of the obligation's calendar (the
  `holidays` package). The trigger's own local date is day 0, and the deadline falls due at the
  catalogue's single business-day due time (close of business) on day n.
- Where a local time is ambiguous (the repeated hour in autumn) or does not exist (the skipped
  hour in spring), the earlier instant is taken: the reference's rule is to produce the earlier
  plausible deadline when a rule is ambiguous.

Nothing here reads the clock. Public holidays come from the `holidays` package, but workflow
code cannot use it: its dependency dateutil reads the local time when imported and it loads
translations through gettext and locale, all forbidden in Temporal's workflow sandbox. So the
business-day functions take `HolidayTables`, plain data built outside workflow code (in an
activity, with `build_holiday_table`); without tables they ask the package directly, which is
what the CLI and tests do. Hour, day and month clocks need neither.
"""

from __future__ import annotations

import calendar as _calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from incidents.jurisdictions import Country

_PERIOD = re.compile(
    r"^P(?!$)(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?$"
)


@dataclass(frozen=True, slots=True)
class Period:
    """An ISO-8601 duration as the law states it; months and days are not fixed lengths of time,
    so they cannot be a `timedelta` until they are placed on a calendar."""

    months: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip().upper()) if isinstance(text, str) else None
        if not match:
            raise ValueError(
                f"{text!r} is not an ISO-8601 duration this project uses "
                "(PnM, PnW, PnD, PTnH, PTnM or a combination)"
            )
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
        period = cls(
            months=parts.get("months", 0),
            days=parts.get("days", 0) + 7 * parts.get("weeks", 0),
            hours=parts.get("hours", 0),
            minutes=parts.get("minutes", 0),
        )
        if period == cls():
            raise ValueError(f"{text!r} is a zero duration")
        return period

    @property
    def clock(self) -> timedelta:
        return timedelta(hours=self.hours, minutes=self.minutes)

    @property
    def is_clock_only(self) -> bool:
        return self.months == 0 and self.days == 0

    def __str__(self) -> str:
        date_part = (f"{self.months}M" if self.months else "") + (
            f"{self.days}D" if self.days else ""
        )
        time_part = (f"{self.hours}H" if self.hours else "") + (
            f"{self.minutes}M" if self.minutes else ""
        )
        return "P" + date_part + (f"T{time_part}" if time_part else "")


def _period_from_any(value: Any) -> Period:
    if isinstance(value, Period):
        return value
    if isinstance(value, str):
        return Period.parse(value)
    raise ValueError("expected an ISO-8601 duration string such as PT72H or P30D")


PeriodField = Annotated[
    Period,
    PlainValidator(_period_from_any),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "duration"}),
]


def _zone(value: Any) -> str:
    try:
        ZoneInfo(str(value))
    except (ValueError, KeyError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return str(value)


TimeZoneName = Annotated[str, PlainValidator(_zone), WithJsonSchema({"type": "string"})]


class HolidayCalendar(BaseModel):
    """Whose public holidays stop a business-day clock; no country means weekends only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: Country | None = None
    subdivision: str | None = Field(None, pattern=r"^[A-Z0-9]{1,3}$")

    @model_validator(mode="after")
    def _subdivision_needs_country(self) -> HolidayCalendar:
        if self.country is None and self.subdivision is not None:
            raise ValueError("a subdivision needs a country")
        return self

    def check_available(self) -> None:
        """Raise ValueError unless `holidays` has this calendar.

        Called by the loaders, not by the validator: a validator runs wherever the model is
        decoded, including inside the workflow sandbox, where `holidays` cannot be imported.
        """
        if self.country is None:
            return
        import holidays

        supported = holidays.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"no public holiday calendar for {self.country!r}")
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(f"{self.country!r} has no holiday subdivision {self.subdivision!r}")

    def label(self) -> str:
        if self.country is None:
            return "weekends only"
        return self.country + (f"-{self.subdivision}" if self.subdivision else "")


class MissingHolidays(ValueError):
    """A business-day clock reached a year the given holiday tables do not cover."""


class HolidayTable(BaseModel):
    """One calendar's public holidays for a span of years, as plain data.

    Data rather than a live `holidays` object for two reasons: workflow code cannot build one
    (see the module docstring), and a deadline computed in a running workflow must not change
    on replay because a newer `holidays` release revised a table. The source says which release.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    calendar: HolidayCalendar
    first_year: int
    last_year: int
    weekend: tuple[int, ...] = Field(description="Weekday numbers, Monday = 0")
    days_off: tuple[date, ...]
    source: str

    def covers(self, year: int) -> bool:
        return self.first_year <= year <= self.last_year


class HolidayTables(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tables: tuple[HolidayTable, ...] = ()

    def table_for(self, cal: HolidayCalendar, year: int) -> HolidayTable:
        for table in self.tables:
            if table.calendar == cal and table.covers(year):
                return table
        raise MissingHolidays(
            f"no {cal.label()} holiday table for {year}: build one that covers it"
        )


def build_holiday_table(cal: HolidayCalendar, first_year: int, last_year: int) -> HolidayTable:
    """Read a calendar out of the `holidays` package; outside workflow code only."""
    import holidays

    if cal.country is None:
        return HolidayTable(
            calendar=cal,
            first_year=first_year,
            last_year=last_year,
            weekend=(5, 6),
            days_off=(),
            source="weekends only",
        )
    table = holidays.country_holidays(
        cal.country, subdiv=cal.subdivision, years=range(first_year, last_year + 1)
    )
    return HolidayTable(
        calendar=cal,
        first_year=first_year,
        last_year=last_year,
        weekend=tuple(sorted(table.weekend)),
        days_off=tuple(sorted(table.keys())),
        source=f"holidays {holidays.__version__}",
    )


@cache
def _package_table(cal: HolidayCalendar, year: int) -> HolidayTable:
    return build_holiday_table(cal, year, year)


def is_business_day(day: date, cal: HolidayCalendar, tables: HolidayTables | None = None) -> bool:
    """Without tables the `holidays` package is asked directly, which is fine outside workflows."""
    table = _package_table(cal, day.year) if tables is None else tables.table_for(cal, day.year)
    return day.weekday() not in table.weekend and day not in table.days_off


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant a local wall-clock time names, taking the earlier one when DST makes it
    ambiguous (repeated hour) or skips it (missing hour)."""
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return min(first, second)


def add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _calendar.monthrange(year, month)[1]))


def add_business_days(
    day: date, count: int, cal: HolidayCalendar, tables: HolidayTables | None = None
) -> date:
    """Day 0 is `day` itself, whatever kind of day it is; the result is the count-th business
    day after it."""
    current = day
    remaining = count
    while remaining > 0:
        current += timedelta(days=1)
        if is_business_day(current, cal, tables):
            remaining -= 1
    return current


def due_instant(
    start: datetime,
    period: Period,
    *,
    tz: ZoneInfo,
    business_days: bool = False,
    calendar: HolidayCalendar | None = None,
    due_time: time = time(17, 0),
    tables: HolidayTables | None = None,
) -> datetime:
    """When a clock that started at `start` runs out, in UTC.

    `start` must be timezone-aware; its own offset does not matter, only the instant, so the
    same facts written in Manila or in New York give the same deadline.
    """
    if start.tzinfo is None:
        raise ValueError("a clock cannot start at a naive time: give it an offset")
    local = start.astimezone(tz)
    if business_days:
        if period.months or period.hours or period.minutes:
            raise ValueError(f"business-day clocks count whole days only, not {period}")
        day = add_business_days(local.date(), period.days, calendar or HolidayCalendar(), tables)
        return local_instant(day, due_time, tz)
    if period.is_clock_only:
        return start.astimezone(UTC) + period.clock
    day = add_months(local.date(), period.months) + timedelta(days=period.days)
    wall = local_instant(day, local.time().replace(tzinfo=None), tz)
    return wall + period.clock


def end_of_calendar_year(instant: datetime, tz: ZoneInfo) -> datetime:
    """Midnight at the end of 31 December of the instant's local year, as an instant."""
    year = instant.astimezone(tz).year
    return local_instant(date(year + 1, 1, 1), time(0, 0), tz)


def reminder_times(
    due_at: datetime, offsets: list[timedelta], *, not_before: datetime
) -> list[datetime]:
    """Reminder instants before a deadline, earliest first, dropping any that would fall before
    the clock started (a 24h reminder makes no sense for a 6h clock)."""
    times = {due_at - offset for offset in offsets if offset > timedelta(0)}
    return sorted(t for t in times if t >= not_before and t < due_at)
