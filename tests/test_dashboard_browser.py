"""End to end in a real headless Chromium (Debian's chromium + chromedriver, driven by Selenium): log in, read the
sprint and a story, follow a signed link logged out, retry a dead outbox row as admin, be refused as viewer."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from dashboard_support import PASSWORD, SECRET, add_users, seed
from werkzeug.serving import make_server

from bot.outbox.tables import OutboxRow
from bot.web.dashboard_keys import signed_story_url

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):  # .ci/run installs them: in CI a missing browser is a failure, not a skip
        raise RuntimeError("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    pytest.skip("no browser: apt-get install -y chromium chromium-driver to run the browser tests",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.expected_conditions import staleness_of  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402


@pytest.fixture
def settings_overrides(db_url) -> dict:
    return {"database_url": db_url, "secret_key": SECRET, "timezone": "Europe/Berlin"}


@pytest.fixture
def server(app, client, auth, db):
    add_users(db)
    seed(client, auth, db)
    with db.transaction() as session:
        row = OutboxRow(kind="jira.comment", payload={}, state="dead", attempts=12, last_error="HTTP 502 from Jira")
        session.add(row)
        session.flush()
        app.config["TEST_DEAD_ROW"] = row.id
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    # The Debian driver, named explicitly: Selenium Manager never downloads a browser or driver.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def click_and_wait(driver, element) -> None:
    """Click something that loads a new page, and wait until it has: reading the page before then finds the
    old page's elements, which go stale under the test."""
    old_page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 10).until(lambda _: _gone(old_page))


def _gone(element) -> bool:
    """The element left the document. Chromedriver says so with StaleElementReferenceException, or, when it
    asks in the middle of the navigation, with "Node with given id does not belong to the document"."""
    try:
        return staleness_of(element)(None)
    except WebDriverException as exc:
        if "does not belong to the document" in exc.msg:
            return True
        raise


def log_in(driver, base: str, name: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "name").send_keys(name)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.login button"))


def test_admin_reads_the_sprint_and_a_story_and_retries_a_dead_row(server, browser, db, app):
    log_in(browser, server, "ada")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sprint 42"
    assert browser.find_element(By.ID, "total-spent").text.startswith("$")
    assert browser.find_element(By.CSS_SELECTOR, "svg.chart").is_displayed()
    shot(browser, "sprint")

    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "PROJ-1"))
    assert "PROJ-1" in browser.find_element(By.TAG_NAME, "h1").text
    assert "runaway" in browser.find_element(By.CSS_SELECTOR, "tr.runaway").text
    shot(browser, "story")

    browser.set_window_size(390, 844)  # a phone: the chart fits the screen
    width = browser.execute_script("return document.querySelector('svg.chart').getBoundingClientRect().width")
    assert width <= 390
    shot(browser, "story-phone")
    browser.set_window_size(1280, 1000)

    browser.get(f"{server}/outbox")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form.inline button"))
    assert "pending again" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    shot(browser, "outbox-retried")
    with db.session_factory() as session:
        assert session.get(OutboxRow, app.config["TEST_DEAD_ROW"]).state == "pending"


def test_viewer_sees_no_retry_and_is_refused(server, browser, db, app):
    log_in(browser, server, "vic")
    browser.get(f"{server}/outbox")
    assert "HTTP 502 from Jira" in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, "form.inline button")
    # A viewer who forges the form (with a valid CSRF token of their own session) is still refused.
    browser.execute_script("""
        const row = arguments[0];
        const token = document.querySelector('input[name=csrf_token]').value;
        const form = document.createElement('form'); form.method = 'post'; form.action = '/outbox/' + row + '/retry';
        const input = document.createElement('input'); input.name = 'csrf_token'; input.value = token;
        form.appendChild(input); document.body.appendChild(form); form.submit();""", app.config["TEST_DEAD_ROW"])
    WebDriverWait(browser, 10).until(lambda d: "Only an admin can do this." in d.page_source)
    shot(browser, "viewer-refused")
    with db.session_factory() as session:
        assert session.get(OutboxRow, app.config["TEST_DEAD_ROW"]).state == "dead"


def test_a_signed_link_opens_the_story_logged_out(server, browser, app):
    url = signed_story_url(app.config["SETTINGS"], "PROJ-2").replace(app.config["SETTINGS"].public_url, server)
    browser.get(url)
    assert "PROJ-2" in browser.find_element(By.TAG_NAME, "h1").text
    assert "read-only" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    shot(browser, "signed-link")
    browser.get(f"{server}/")
    assert browser.current_url.startswith(f"{server}/login")
