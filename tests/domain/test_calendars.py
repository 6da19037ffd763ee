"""Clock arithmetic: absolute hours, calendar days and months on the regulator's calendar,
business days skipping weekends and public holidays, and the earlier instant when DST makes a
local time ambiguous."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from incidents.calendars import (
    HolidayCalendar,
    HolidayTables,
    MissingHolidays,
    Period,
    add_months,
    build_holiday_table,
    due_instant,
    end_of_calendar_year,
    local_instant,
    reminder_times,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
NEW_YORK = ZoneInfo("America/New_York")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
US = HolidayCalendar(country="US")
BR = HolidayCalendar(country="BR")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT72H", Period(hours=72)),
        ("P30D", Period(days=30)),
        ("P1M", Period(months=1)),
        ("P2W", Period(days=14)),
        ("PT90M", Period(minutes=90)),
        ("P1DT2H", Period(days=1, hours=2)),
    ],
)
def test_periods_parse_and_print_back(text: str, expected: Period) -> None:
    assert Period.parse(text) == expected
    assert Period.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "72H", "P1Y", "PT-1H", "P0D", "soon"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Period.parse(text)


def test_hours_are_absolute_across_the_eu_spring_change() -> None:
    # 29 March 2026: Brussels jumps from +01:00 to +02:00, so 72 hours end at 13:00, not 12:00.
    due = due_instant(at("2026-03-27T12:00:00+01:00"), Period(hours=72), tz=BRUSSELS)
    assert due == at("2026-03-30T11:00:00+00:00")
    assert due.astimezone(BRUSSELS).hour == 13


def test_hours_are_absolute_across_the_us_autumn_change() -> None:
    # 1 November 2026: New York falls back from -04:00 to -05:00.
    due = due_instant(at("2026-10-30T09:00:00-04:00"), Period(hours=72), tz=NEW_YORK)
    assert due == at("2026-11-02T13:00:00+00:00")
    assert due.astimezone(NEW_YORK).hour == 8


def test_calendar_days_keep_the_local_time_across_the_us_spring_change() -> None:
    # 8 March 2026 is inside the 60 days: same wall-clock time, one hour less in absolute terms.
    start = at("2026-02-01T10:00:00-05:00")
    due = due_instant(start, Period(days=60), tz=NEW_YORK)
    assert due == at("2026-04-02T10:00:00-04:00")
    assert due - start == timedelta(days=60, hours=-1)


def test_calendar_days_keep_the_local_time_across_the_eu_autumn_change() -> None:
    due = due_instant(at("2026-10-20T09:00:00+02:00"), Period(days=30), tz=BRUSSELS)
    assert due == at("2026-11-19T09:00:00+01:00")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2028, 1, 31), date(2028, 2, 29)),
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 12, 15), date(2027, 1, 15)),
    ],
)
def test_months_clamp_to_the_end_of_a_shorter_month(start: date, expected: date) -> None:
    assert add_months(start, 1) == expected


def test_a_one_month_clock_clamps_and_keeps_the_local_time() -> None:
    due = due_instant(at("2026-01-31T09:00:00+01:00"), Period(months=1), tz=BRUSSELS)
    assert due == at("2026-02-28T09:00:00+01:00")


def test_ambiguous_and_missing_local_times_take_the_earlier_instant() -> None:
    # 01:30 happens twice in New York on 1 Nov 2026; 02:30 never happens on 8 Mar 2026.
    assert local_instant(date(2026, 11, 1), time(1, 30), NEW_YORK) == at(
        "2026-11-01T05:30:00+00:00"
    )
    assert local_instant(date(2026, 3, 8), time(2, 30), NEW_YORK) == at("2026-03-08T06:30:00+00:00")


@pytest.mark.parametrize(
    ("start", "days", "calendar", "tz", "expected"),
    [
        # The reference's own example: determined late on the Friday before Labor Day.
        ("2026-09-04T20:00:00-04:00", 4, US, NEW_YORK, "2026-09-11T17:00:00-04:00"),
        # Thanksgiving Thursday does not count; the Friday after it does (not federal).
        ("2026-11-25T11:00:00-05:00", 4, US, NEW_YORK, "2026-12-02T17:00:00-05:00"),
        # A Saturday trigger: Saturday is day 0, Monday day 1.
        ("2026-06-06T10:00:00-04:00", 1, US, NEW_YORK, "2026-06-08T17:00:00-04:00"),
        # Brazil, Tiradentes on Tuesday 21 April 2026.
        ("2026-04-20T10:00:00-03:00", 3, BR, SAO_PAULO, "2026-04-24T17:00:00-03:00"),
        # Brazil, Good Friday 3 April 2026 and the weekend after it.
        ("2026-04-02T10:00:00-03:00", 3, BR, SAO_PAULO, "2026-04-08T17:00:00-03:00"),
        # Weekends only: Friday + 3 working days = Wednesday.
        (
            "2026-06-05T10:00:00+00:00",
            3,
            HolidayCalendar(),
            ZoneInfo("UTC"),
            "2026-06-10T17:00:00+00:00",
        ),
    ],
)
def test_business_days_skip_weekends_and_public_holidays(
    start: str, days: int, calendar: HolidayCalendar, tz: ZoneInfo, expected: str
) -> None:
    due = due_instant(at(start), Period(days=days), tz=tz, business_days=True, calendar=calendar)
    assert due == at(expected)


def test_business_days_count_from_the_local_date_not_the_input_offset() -> None:
    # 02:00 UTC on Saturday is still Friday evening in New York: Friday is day 0.
    due = due_instant(
        at("2026-06-06T02:00:00+00:00"),
        Period(days=1),
        tz=NEW_YORK,
        business_days=True,
        calendar=US,
    )
    assert due == at("2026-06-08T17:00:00-04:00")


def test_holiday_tables_as_data_give_the_same_answer_and_refuse_uncovered_years() -> None:
    tables = HolidayTables(tables=(build_holiday_table(US, 2026, 2026),))
    start = at("2026-11-25T11:00:00-05:00")
    with_tables = due_instant(
        start, Period(days=4), tz=NEW_YORK, business_days=True, calendar=US, tables=tables
    )
    assert with_tables == due_instant(
        start, Period(days=4), tz=NEW_YORK, business_days=True, calendar=US
    )
    with pytest.raises(MissingHolidays, match="2027"):
        due_instant(
            at("2026-12-30T11:00:00-05:00"),
            Period(days=4),
            tz=NEW_YORK,
            business_days=True,
            calendar=US,
            tables=tables,
        )


def test_business_day_clocks_count_whole_days_only() -> None:
    with pytest.raises(ValueError, match="whole days"):
        due_instant(
            at("2026-06-01T10:00:00+00:00"), Period(hours=4), tz=NEW_YORK, business_days=True
        )


def test_a_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        due_instant(datetime(2026, 6, 1, 10), Period(hours=1), tz=NEW_YORK)


def test_end_of_calendar_year_is_local_midnight() -> None:
    assert end_of_calendar_year(at("2026-06-10T12:00:00+00:00"), NEW_YORK) == at(
        "2027-01-01T00:00:00-05:00"
    )
    # 04:00 UTC on 1 January is still 31 December in New York.
    assert end_of_calendar_year(at("2027-01-01T04:00:00+00:00"), NEW_YORK) == at(
        "2027-01-01T00:00:00-05:00"
    )


def test_unknown_calendars_are_caught_by_the_availability_check() -> None:
    with pytest.raises(ValueError, match="subdivision"):
        HolidayCalendar(country="US", subdivision="ZZ").check_available()
    HolidayCalendar(country="US", subdivision="CA").check_available()


def test_reminders_fall_before_the_deadline_and_after_the_clock_started() -> None:
    start = at("2026-06-01T10:00:00+00:00")
    due = start + timedelta(hours=6)
    offsets = [timedelta(hours=24), timedelta(hours=4), timedelta(hours=1)]
    assert reminder_times(due, offsets, not_before=start) == [
        at("2026-06-01T12:00:00+00:00"),
        at("2026-06-01T15:00:00+00:00"),
    ]
