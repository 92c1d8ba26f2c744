def test_healthz_answers_when_database_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["database"] == "ok"
