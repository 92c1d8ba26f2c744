"""The read-only story pages linked from GitHub checks and Jira."""


def test_story_page_shows_budget_spend_and_escapes_names(client, auth):
    client.put("/api/v1/stories/PROJ-1/budget", json={"tokens": 5000}, headers=auth)
    client.post("/api/v1/usage", headers=auth, json={
        "event_id": "1", "story": "PROJ-1", "model": "gpt-4o", "agent": "<script>alert(1)</script>",
        "occurred_at": "2026-11-02T10:00:00Z", "input_tokens": 4500, "output_tokens": 500})

    page = client.get("/stories/proj-1")

    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "5,000" in html and "over" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<svg" in html


def test_story_list_and_unknown_story(client, auth):
    client.put("/api/v1/stories/PROJ-2/budget", json={"usd": 5}, headers=auth)

    assert "PROJ-2" in client.get("/").get_data(as_text=True)
    assert client.get("/stories/PROJ-404").status_code == 404
