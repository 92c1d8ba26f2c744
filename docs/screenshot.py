"""Make docs/img/sprint.png: a realistic sprint seeded through the API, served, and shot in headless Chromium."""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.all_tables import metadata
from bot.app import create_app
from bot.db import get_db
from bot.ledger.tables import Sprint, Story
from bot.web.auth import create_token
from bot.web.users import create_user

OUT = Path(__file__).resolve().parent / "img" / "sprint.png"
STORIES = [("PAY-101", "Checkout: retry declined cards", "Grace", "$12"), ("PAY-102", "Refund webhooks", "Linus", "$8"),
           ("PAY-103", "3-D Secure challenge flow", "Ada", "$15"), ("PAY-104", "Invoice PDF export", "Barbara", "$6"),
           ("PAY-105", "Currency rounding audit", "Ken", "$4"), ("PAY-106", "Payout schedule settings", "Grace", "$10"),
           ("PAY-107", "Fraud score in the admin view", "Margaret", "$9"), ("PAY-108", "Dunning e-mails", None, "$5")]


def seed(app) -> None:
    rng = random.Random(4)
    client, db = app.test_client(), get_db(app)
    with db.transaction() as session:
        headers = {"Authorization": f"Bearer {create_token(session, 'demo')}"}
        create_user(session, "demo", "demo password", "viewer")
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=6)
    for key, _, _, usd in STORIES:
        client.put(f"/api/v1/stories/{key}/budget", json={"usd": usd}, headers=headers)
    events = []
    for n in range(600):
        key = rng.choice(STORIES[:7])[0]
        runaway = key == "PAY-103" and n % 3 == 0
        events.append({"event_id": f"ev-{n}", "story": key, "model": rng.choice(["gpt-4o", "claude-sonnet-4-5"]),
                       "agent": rng.choice(["coder", "reviewer", "tester"]), "run_id": f"{key}-run-{n % 9}",
                       "outcome": "error" if runaway else "ok",
                       "input_tokens": rng.randrange(5_000, 40_000), "output_tokens": rng.randrange(200, 3000),
                       "occurred_at": (start + timedelta(minutes=rng.randrange(6 * 1440 + 600))).isoformat()})
    for chunk in range(0, len(events), 200):
        client.post("/api/v1/usage", json={"events": events[chunk:chunk + 200]}, headers=headers)
    with db.transaction() as session:
        session.add(Sprint(name="Payments sprint 14", state="active", start_at=start,
                           end_at=start + timedelta(days=13)))
        for key, summary, assignee, _ in STORIES:
            story = session.get(Story, key)
            story.summary, story.assignee, story.sprint = summary, assignee, "Payments sprint 14"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"database_url": f"sqlite:///{folder}/demo.sqlite3", "secret_key": "screenshot-key",
                          "timezone": "Europe/Berlin"})
        metadata.create_all(get_db(app).engine)
        seed(app)
        httpd = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,1400", f"--user-data-dir={folder}/profile"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                                  options=options)
        try:
            base = f"http://127.0.0.1:{httpd.server_port}"
            driver.get(f"{base}/login")
            driver.find_element(By.NAME, "name").send_keys("demo")
            driver.find_element(By.NAME, "password").send_keys("demo password")
            driver.find_element(By.CSS_SELECTOR, "form.login button").click()
            OUT.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(OUT))
        finally:
            driver.quit()
            httpd.shutdown()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
