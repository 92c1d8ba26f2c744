"""Pure parsing of what Jira sends: budget field values, sprint values (Cloud and Data Center), times."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.integrations.jira.issues import parse_field_budget, parse_sprint, parse_time
from bot.ledger.budgets import Budget, BudgetError


@pytest.mark.parametrize(("value", "expected"), [
    (200000, Budget(tokens=200_000)),  # a number field's value in issue.fields
    (150000.0, Budget(tokens=150_000)),
    ("12", Budget(tokens=12)),  # a number field's change in changelog toString
    ("200000.0", Budget(tokens=200_000)),
    ("1.5E7", Budget(tokens=15_000_000)),
    ("200k / $5", Budget(tokens=200_000, usd=Decimal("5"))),
    ("$2.50", Budget(usd=Decimal("2.50"))),
    ("", None), (None, None), ("   ", None),
])
def test_budget_field_values(value, expected):
    assert parse_field_budget(value) == expected


@pytest.mark.parametrize("value", ["lots", "12.5", "-3", "1e400x", True, "$5 / $6"])
def test_nonsense_budgets_are_refused(value):
    with pytest.raises(BudgetError):
        parse_field_budget(value)


def test_sprints_from_cloud_objects_and_data_center_strings():
    cloud = {"id": 72, "name": "Sprint 2", "state": "active", "boardId": 84}
    dc = ("com.atlassian.greenhopper.service.sprint.Sprint@1f39706e[id=3,rapidViewId=2,state=CLOSED,"
          "name=Sprint 42,startDate=2024-01-01T09:00:00.000Z,endDate=2024-01-14T17:00:00.000Z,"
          "completeDate=<null>,sequence=3,goal=]")

    assert parse_sprint(cloud) is cloud
    assert parse_sprint(dc) == {"id": "3", "boardId": "2", "state": "CLOSED", "name": "Sprint 42",
                                "startDate": "2024-01-01T09:00:00.000Z", "endDate": "2024-01-14T17:00:00.000Z",
                                "completeDate": None, "sequence": "3", "goal": None}
    assert parse_sprint("garbage") is None


def test_jira_times_become_utc():
    assert parse_time("2019-02-15T19:15:40.470-0800") == datetime(2019, 2, 16, 3, 15, 40, 470000, tzinfo=UTC)
    assert parse_time("2024-01-01T09:00:00.000Z") == datetime(2024, 1, 1, 9, tzinfo=UTC)
    assert parse_time("yesterday") is None and parse_time(None) is None
