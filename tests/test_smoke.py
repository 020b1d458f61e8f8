from conftest import assert_envelope


def test_assistant_round_trip(client, org):
    created = assert_envelope(
        client.post("/api/v1/assistants/", json={"name": "Bot"}, headers=org.headers), 201
    )
    fetched = assert_envelope(
        client.get(f"/api/v1/assistants/{created['id']}", headers=org.headers), 200
    )
    assert fetched["name"] == "Bot"
