"""Conventions every response keeps: problem+json errors, request ids, security headers, size limits."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Query
from sqlalchemy import create_engine


class TestErrors:
    def test_unknown_api_path_is_a_404_problem(self, client):
        answer = client.get("/api/v1/no-such-thing")
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["type"] == "https://nokor.gov/problems/not-found" and body["instance"] == "/api/v1/no-such-thing"

    def test_unknown_page_for_a_browser_is_an_html_404(self, client):
        answer = client.get("/no-such-page", headers={"accept": "text/html"})
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
        assert "Page not found" in answer.text

    def test_wrong_method_is_a_405_problem(self, client):
        answer = client.delete("/health/live")
        assert answer.status_code == 405 and answer.headers["content-type"] == "application/problem+json"

    def test_an_unexpected_error_is_a_500_problem_with_the_request_id(self, app, client):
        @app.get("/api/v1/boom")
        def boom() -> None:
            raise RuntimeError("kaboom")

        from fastapi.testclient import TestClient

        with TestClient(app, raise_server_exceptions=False) as quiet:
            answer = quiet.get("/api/v1/boom")
        assert answer.status_code == 500
        assert answer.headers["content-type"] == "application/problem+json"
        assert "kaboom" not in answer.text
        assert answer.headers["x-request-id"]

    def test_a_single_valued_query_parameter_given_twice_is_a_422_naming_it(self, client, db):
        from tests.conftest import issue_key

        key = issue_key(db, permissions=["services.process"])
        db.commit()
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/v1/services/queue?limit=5", headers=auth).status_code == 200
        answer = client.get("/api/v1/services/queue?limit=5&limit=500", headers=auth)
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["errors"] == [
            {"pointer": "/query/limit", "detail": "Give this value only once.", "code": "repeated"}]

    def test_a_list_query_parameter_may_repeat_and_a_scalar_beside_it_may_not(self, app, client):
        @app.get("/api/v1/echo")
        def echo(tag: Annotated[list[str] | None, Query()] = None, page: int = 1) -> dict[str, object]:
            return {"tag": tag, "page": page}

        assert client.get("/api/v1/echo?tag=a&tag=b&page=2").json() == {"tag": ["a", "b"], "page": 2}
        refused = client.get("/api/v1/echo?tag=a&page=2&page=3")
        assert refused.status_code == 422 and refused.json()["errors"][0]["pointer"] == "/query/page"


class TestRequestIds:
    def test_every_response_carries_a_request_id(self, client):
        first = client.get("/health/live").headers["x-request-id"]
        second = client.get("/health/live").headers["x-request-id"]
        assert first and second and first != second

    def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(self, client):
        assert client.get("/health/live", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
        replaced = client.get("/health/live", headers={"X-Request-ID": "<script>"}).headers["x-request-id"]
        assert replaced != "<script>" and len(replaced) == 36


class TestSecurityHeaders:
    @pytest.mark.parametrize("path", ["/health/live", "/login", "/api/v1/me"])
    def test_headers_on_every_response(self, client, path):
        headers = client.get(path, headers={"accept": "text/html"}).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "strict-transport-security" not in headers  # only behind TLS

    def test_hsts_behind_tls(self, app):
        from fastapi.testclient import TestClient

        with TestClient(app, base_url="https://testserver") as tls:
            assert "max-age" in tls.get("/health/live").headers["strict-transport-security"]

    def test_pages_have_no_inline_scripts_or_styles(self, client):
        html = client.get("/login", headers={"accept": "text/html"}).text
        assert "<script>" not in html and "style=" not in html and "<style" not in html


class TestBodyLimit:
    def test_a_declared_large_body_gets_413_problem(self, client, app):
        limit = app.state.settings.max_body_bytes
        answer = client.post("/api/v1/officers", content=b"x" * (limit + 1),
                             headers={"Content-Type": "application/json"})
        assert answer.status_code == 413
        assert answer.headers["content-type"] == "application/problem+json"

    def test_a_streamed_large_body_gets_413(self, client, app):
        limit = app.state.settings.max_body_bytes

        def chunks():
            for _ in range(limit // 65536 + 2):
                yield b"x" * 65536

        answer = client.post("/api/v1/officers", content=chunks(), headers={"Content-Type": "application/json"})
        assert answer.status_code == 413


class TestHealthAndMetrics:
    def test_live_and_ready(self, client):
        assert client.get("/health/live").json() == {"status": "ok"}
        assert client.get("/health/ready").json()["database"] == "ok"

    def test_ready_says_503_when_the_database_is_gone(self, app, client, tmp_path):
        good = app.state.engine
        app.state.engine = create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
        try:
            answer = client.get("/health/ready")
        finally:
            app.state.engine = good
        assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"

    def test_metrics_count_requests_by_route_template(self, client):
        client.get("/api/v1/officers/0190e4c4-0000-7000-8000-000000000000")
        text = client.get("/metrics").text
        assert 'route="/api/v1/officers/{officer_id}"' in text and "nokor_http_request_seconds_bucket" in text

    def test_openapi_describes_the_api(self, client):
        spec = client.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.") and "/api/v1/officers" in spec["paths"]


class TestLanguage:
    @pytest.mark.parametrize(("code", "direction"), [("km", "ltr"), ("en", "ltr"), ("ar", "rtl"), ("de", "ltr")])
    def test_language_switch_sets_lang_and_direction(self, client, code, direction):
        answer = client.get(f"/language/{code}?next=/login", headers={"accept": "text/html"})
        assert answer.status_code == 200
        assert f'<html lang="{code}" dir="{direction}">' in answer.text

    def test_accept_language_chooses_the_page_language(self, client):
        answer = client.get("/login", headers={"accept": "text/html", "accept-language": "de-DE,de;q=0.9,en;q=0.5"})
        assert '<html lang="de"' in answer.text

    def test_switch_refuses_foreign_redirects(self, client):
        answer = client.get("/language/en?next=https://evil.example/", follow_redirects=False)
        assert answer.headers["location"] == "/"


def test_static_files_are_cacheable_and_fonts_typed(client):
    css = client.get("/static/css/nokor.css")
    assert css.status_code == 200 and "max-age" in css.headers["cache-control"]
    fonts = [line for line in css.text.splitlines() if ".woff2" in line]
    assert fonts, "the stylesheet names no font"
    path = fonts[0].split("url(")[1].split(")")[0].strip("'\"")
    font = client.get(path if path.startswith("/") else "/static/css/" + path)
    assert font.status_code == 200 and font.headers["content-type"] == "font/woff2"
