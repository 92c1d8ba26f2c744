"""The dashboard pages, seen through Flask's test client: every page, escaping, formats, 404s."""

from __future__ import annotations

import pytest
from dashboard_support import SECRET, add_users, log_in, seed


@pytest.fixture
def settings_overrides(db_url) -> dict:
    return {"database_url": db_url, "secret_key": SECRET, "timezone": "Europe/Berlin"}


@pytest.fixture
def viewer(client, db):
    add_users(db)
    assert log_in(client, "vic").status_code == 302
    return client


@pytest.fixture
def seeded(viewer, auth, db):
    seed(viewer, auth, db)
    return viewer


def test_sprint_page_shows_money_words_and_sorted_stories(seeded):
    html = seeded.get("/").get_data(as_text=True)

    assert "Sprint 42" in html and "<svg" in html
    assert "over budget" in html and "no budget" not in html.split("<tbody>")[1]  # every story has one
    assert "NO_BUDGET" not in html
    assert "$7.88" in html  # PROJ-1's spend as money, two places
    assert html.index("PROJ-1") < html.index("PROJ-3")  # default: most used first
    assert "0.709501925" not in html


def test_story_summary_from_jira_is_escaped_everywhere(seeded):
    for path in ("/", "/stories/PROJ-1", "/?q=checkout"):
        html = seeded.get(path).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


def test_sprint_table_sorts_and_filters_without_javascript(seeded):
    by_key = seeded.get("/?sort=key&dir=asc").get_data(as_text=True)
    assert by_key.index(">PROJ-1<") < by_key.index(">PROJ-2<") < by_key.index(">PROJ-3<")
    backwards = seeded.get("/?sort=key&dir=desc").get_data(as_text=True)
    assert backwards.index(">PROJ-3<") < backwards.index(">PROJ-1<")

    only_over = seeded.get("/?status=over").get_data(as_text=True)
    assert ">PROJ-1<" in only_over and ">PROJ-2<" not in only_over
    assert ">PROJ-2<" in seeded.get("/?q=refund").get_data(as_text=True)


def test_story_page_shows_both_units_runaway_and_readable_times(seeded):
    html = seeded.get("/stories/proj-1").get_data(as_text=True)

    assert "$5.00" in html  # the budget as money
    assert "3.13M" in html  # tokens grouped
    assert 'class="runaway"' in html and "8 of 8" in html
    assert "T10:" not in html and "+00:00" not in html  # no raw ISO timestamps
    assert "<polyline" in html and "budget" in html


def test_story_chart_has_continuous_days_and_an_axis_from_zero(seeded):
    html = seeded.get("/stories/PROJ-2").get_data(as_text=True)
    chart = html[html.index('<svg class="chart"'):html.index("</svg>")]

    assert '>$0.00<' in chart or ">0<" in chart  # the y-axis starts at 0
    assert "e+" not in chart and "1e6" not in chart
    spent = chart.split('class="line spent"')[1].split('points="')[1].split('"')[0].split()
    assert len(spent) >= 5  # spend on days 0, 2, 4 plus the days between (and up to today)


def test_unknown_story_is_an_html_page_for_browsers_and_json_for_the_api(seeded, auth):
    page = seeded.get("/stories/PROJ-404", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "PROJ-404" in page.get_data(as_text=True)

    api = seeded.get("/api/v1/stories/PROJ-404", headers=auth)
    assert api.status_code == 404 and api.is_json
    assert seeded.get("/no/such/page", headers={"Accept": "text/html"}).mimetype == "text/html"


@pytest.mark.parametrize("path", ["/", "/stories/PROJ-1", "/spend", "/spend?by=team", "/spend?by=project",
                                  "/alerts", "/outbox", "/status", "/?sprint=nope"])
def test_every_page_renders_with_the_security_headers(seeded, path):
    page = seeded.get(path)

    assert page.status_code == 200, path
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    html = page.get_data(as_text=True)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<script" not in html and "style=" not in html


def test_no_page_shows_a_secret(seeded, app):
    html = "".join(seeded.get(p).get_data(as_text=True) for p in ("/status", "/outbox", "/"))
    assert SECRET not in html and app.config["SETTINGS"].database_url not in html


def test_spend_page_groups_and_downloads_the_export(seeded):
    html = seeded.get("/spend?by=agent").get_data(as_text=True)
    assert "coder" in html and "reviewer" in html and "<svg" in html

    csv = seeded.get("/spend.csv?by=agent")
    assert csv.mimetype == "text/csv" and "attachment" in csv.headers["Content-Disposition"]
    lines = csv.get_data(as_text=True).splitlines()
    assert lines[0].startswith("agent,events") and any(line.startswith("coder,8,") for line in lines)

    bad = seeded.get("/spend?from=yesterday")
    assert bad.status_code == 200 and "is not a date" in bad.get_data(as_text=True)


def test_css_is_served_by_the_app_without_login(client):
    css = client.get("/assets/dashboard.css")
    assert css.status_code == 200 and "text/css" in css.mimetype
