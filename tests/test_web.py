"""What a browser loads outside the JSON API: the widget's script and the demo page."""

from __future__ import annotations

import gzip
import json

import pytest
from conftest import assert_envelope, run_cli

from companin import create_app


def test_widget_js_is_served_for_any_site_and_revalidated_by_its_hash(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "max-age=300" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    assert len(gzip.compress(response.data)) < 20_000  # the goal: under 20 KB gzipped

    assert client.get("/widget.js", headers={"If-None-Match": etag}).status_code == 304
    pinned = client.get(f"/widget.js?v={etag.strip(chr(34))}")
    assert "immutable" in pinned.headers["Cache-Control"]
    assert "max-age=31536000" in pinned.headers["Cache-Control"]
    assert pinned.data == response.data
    # Another version than this one is not promised forever.
    assert "immutable" not in client.get("/widget.js?v=0000").headers["Cache-Control"]


def test_the_demo_page_says_how_to_get_a_demo_without_one(client):
    response = client.get("/demo")
    assert response.status_code == 200
    assert b"companin init --demo" in response.data
    assert b"widget.js" not in response.data


@pytest.fixture
def demo_instance(tmp_path):
    instance = tmp_path / "instance"
    run_cli(instance, "init", "--demo")
    return instance


def test_the_demo_page_embeds_the_widget_and_shows_the_tag_but_no_secret(demo_instance):
    app = create_app({"INSTANCE_PATH": str(demo_instance), "TESTING": True})
    details = json.loads((demo_instance / "demo-credentials.json").read_text())
    page = app.test_client().get("/demo").get_data(as_text=True)
    for public in ("client_id", "assistant_id", "widget_config_id"):
        assert page.count(details[public]) == 2  # in the tag shown and in the tag used
    assert details["client_secret"] not in page
    assert "http://localhost/widget.js?v=" in page  # the page's own script: pinned
    assert '&lt;script src="http://localhost/widget.js"' in page  # the tag to paste


def test_a_widget_config_may_name_the_launchers_words(client, org, assistant):
    theme = {"title": "Support", "launcher_text": "Questions? Ask us", "position": "bottom-left"}
    created = client.post(
        "/api/v1/widget-configs/",
        json={"assistant_id": assistant["id"], "theme": theme},
        headers=org.headers,
    )
    assert assert_envelope(created, 201)["theme"] == theme
    too_long = {"launcher_text": "x" * 61}
    refused = client.post(
        "/api/v1/widget-configs/",
        json={"assistant_id": assistant["id"], "theme": too_long},
        headers=org.headers,
    )
    assert_envelope(refused, 422)


def test_behind_a_proxy_that_ends_tls_the_demo_page_names_https(demo_instance):
    config = {"INSTANCE_PATH": str(demo_instance), "TESTING": True, "PROXY_COUNT": 1}
    client = create_app(config).test_client()
    page = client.get("/demo", headers={"X-Forwarded-Proto": "https"}).get_data(as_text=True)
    assert "https://localhost/widget.js?v=" in page
    # Without a trusted proxy, the header is the client's word and changes nothing.
    untrusting = create_app({**config, "PROXY_COUNT": 0}).test_client()
    page = untrusting.get("/demo", headers={"X-Forwarded-Proto": "https"}).get_data(as_text=True)
    assert "http://localhost/widget.js?v=" in page


def test_behind_a_proxy_that_ends_tls_the_consoles_cookies_are_secure(tmp_path):
    config = {"INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True, "PROXY_COUNT": 1}
    client = create_app(config).test_client()
    form = client.get("/console/sign-in", headers={"X-Forwarded-Proto": "https"})
    cookies = form.headers.getlist("Set-Cookie")
    assert cookies and all("Secure" in cookie for cookie in cookies)
