"""The gateway between two real HTTP servers: forwarding, headers, access rights and every bad input."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from tests.conftest import issue_key
from tests.exchange.conftest import SYSTEM, GarbageServer, grant, problem_code, publish

from nokor import exchange
from nokor.exchange.messagelog import wait_until_written
from nokor.exchange.models import LogRecord

SERVICE = "KH/GOV/MOI/population/persons"
CLIENT = "KH/GOV/MOH/hospital"


@pytest.fixture
def hospital(db) -> str:  # type: ignore[no-untyped-def]
    key = issue_key(db, permissions=[], identity=CLIENT)
    exchange.ensure_subsystem(db, SYSTEM, identifier=CLIENT, name="Hospital")
    db.commit()
    return key


def call(server, key: str | None, path: str, method: str = "GET", **kwargs):  # type: ignore[no-untyped-def]
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")
    with httpx.Client(base_url=server.url, timeout=20) as client:
        return client.request(method, path, headers=headers, **kwargs)


def records(db, app) -> list[LogRecord]:  # type: ignore[no-untyped-def]
    wait_until_written(app.state.exchange.log)
    db.expire_all()
    return list(db.query(LogRecord).order_by(LogRecord.seq))


class TestForwarding:
    def test_calls_reuse_one_kept_alive_connection_to_the_provider(self, db, app, provider, nokor_server, hospital):
        publish(db, provider.url)
        grant(db, SERVICE, CLIENT)
        ports = set()
        for pid in range(4):
            answer = call(nokor_server, hospital, f"/r1/{SERVICE}/persons/{pid}")
            assert answer.status_code == 200, answer.text
            ports.add(answer.json()["client_port"])
        assert len(ports) == 1  # the gateway's connection to the provider stays open between calls

    def test_allowed_call_reaches_the_provider_with_x_road_headers(self, db, app, provider, nokor_server, hospital):
        publish(db, provider.url)
        grant(db, SERVICE, CLIENT)
        answer = call(nokor_server, hospital, f"/r1/{SERVICE}/persons/42?lang=en",
                      headers={"X-Road-Client": CLIENT, "X-Road-UserId": "officer-7", "X-Road-Issue": "case-12",
                               "Cookie": "secret=1"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["id"] == "42"
        seen = body["seen_headers"]
        assert seen["x-road-client"] == CLIENT
        assert seen["x-road-service"] == SERVICE
        assert seen["x-road-userid"] == "officer-7" and seen["x-road-issue"] == "case-12"
        assert "authorization" not in seen and "cookie" not in seen
        assert answer.headers["x-road-id"] == seen["x-road-id"]
        assert answer.headers["x-road-request-hash"]
        assert answer.headers["x-road-userid"] == "officer-7"

    @pytest.mark.parametrize("header", ["Information-Mediator-Client", "X-GovStack-Client"])
    def test_govstack_client_headers_are_accepted(self, db, provider, nokor_server, hospital, header):
        publish(db, provider.url)
        grant(db, SERVICE, CLIENT)
        answer = call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1", headers={header: CLIENT})
        assert answer.status_code == 200
        assert answer.json()["seen_headers"]["x-road-client"] == CLIENT

    def test_hop_by_hop_headers_of_the_answer_are_stripped(self, db, provider, nokor_server, hospital):
        publish(db, provider.url)
        grant(db, SERVICE, CLIENT)
        answer = call(nokor_server, hospital, f"/r1/{SERVICE}/echo", method="POST", content=b"hello",
                      headers={"Content-Type": "text/plain"})
        assert answer.status_code == 200 and answer.content == b"hello"
        assert answer.headers["x-provider"] == "yes"
        assert "x-secret" not in answer.headers

    def test_group_right_lets_every_member_in(self, db, provider, nokor_server, hospital):
        publish(db, provider.url)
        from nokor.exchange.schemas import GroupCreate
        from nokor.exchange.service import save_group

        save_group(db, SYSTEM, data=GroupCreate(code="health", name="Health", members=[CLIENT]))
        db.commit()
        grant(db, SERVICE, "group:health", "GET", "/persons/*")
        assert call(nokor_server, hospital, f"/r1/{SERVICE}/persons/9").status_code == 200


class TestAccessRights:
    def test_deny_by_default_and_the_provider_never_sees_the_call(self, db, app, provider, nokor_server, hospital):
        publish(db, provider.url)
        answer = call(nokor_server, hospital, f"/r1/{SERVICE}/persons/42")
        assert answer.status_code == 403
        assert problem_code(answer) == "Server.ServerProxy.AccessDenied"

    def test_an_endpoint_right_opens_only_that_endpoint(self, db, provider, nokor_server, hospital):
        publish(db, provider.url)
        grant(db, SERVICE, CLIENT, "GET", "/persons/*")
        assert call(nokor_server, hospital, f"/r1/{SERVICE}/persons/42").status_code == 200
        assert call(nokor_server, hospital, f"/r1/{SERVICE}/persons/42/photo").status_code == 403
        denied = call(nokor_server, hospital, f"/r1/{SERVICE}/echo", method="POST", content=b"x")
        assert problem_code(denied) == "Server.ServerProxy.AccessDenied"

    def test_revoking_closes_the_door_at_once(self, db, provider, nokor_server, hospital):
        publish(db, provider.url)
        grant(db, SERVICE, CLIENT)
        assert call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1").status_code == 200
        right = exchange.list_access_rights(db)[0]
        exchange.revoke_access(db, SYSTEM, right_id=right.id, reason="contract ended")
        db.commit()
        time.sleep(2.1)  # another process' change is seen within exchange_cache_seconds
        assert call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1").status_code == 403


class TestBadInput:
    def test_unknown_service_and_subsystem(self, db, provider, nokor_server, hospital):
        publish(db, provider.url)
        assert problem_code(call(nokor_server, hospital, "/r1/KH/GOV/MOI/population/nothing/x")) == \
            "Server.ServerProxy.UnknownService"
        assert problem_code(call(nokor_server, hospital, "/r1/KH/GOV/MOI/nobody/persons/x")) == \
            "Server.ServerProxy.UnknownMember"
        assert problem_code(call(nokor_server, hospital, "/r1/KH/GOV")) == "Client.BadRequest"

    def test_no_key_or_a_wrong_key_is_refused(self, db, provider, nokor_server, hospital):
        publish(db, provider.url)
        grant(db, SERVICE, CLIENT)
        assert problem_code(call(nokor_server, None, f"/r1/{SERVICE}/persons/1")) == \
            "Server.ClientProxy.AuthenticationFailed"
        answer = call(nokor_server, "nk_bad_key", f"/r1/{SERVICE}/persons/1")
        assert answer.status_code == 401

    def test_a_forged_client_header_is_refused(self, db, provider, nokor_server, hospital):
        publish(db, provider.url)
        grant(db, SERVICE, "KH/GOV/MOI/police")
        grant(db, SERVICE, CLIENT)
        answer = call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1",
                      headers={"X-Road-Client": "KH/GOV/MOI/police"})
        assert answer.status_code == 403
        assert problem_code(answer) == "Server.ClientProxy.ForgedClientIdentifier"
        assert problem_code(call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1",
                                 headers={"X-Road-Client": "not an identifier"})) == "Client.InvalidClientIdentifier"

    def test_a_slow_provider_times_out_and_the_gateway_does_not_hang(self, db, provider, nokor_server, hospital):
        publish(db, provider.url, timeout=0.5, endpoints=[{"method": "GET", "path": "/slow"}])
        grant(db, SERVICE, CLIENT)
        started = time.monotonic()
        answer = call(nokor_server, hospital, f"/r1/{SERVICE}/slow")
        assert time.monotonic() - started < 3
        assert answer.status_code == 504 and problem_code(answer) == "Server.ServerProxy.ServiceTimeout"

    def test_a_provider_answering_garbage(self, db, nokor_server, hospital):
        garbage = GarbageServer()
        try:
            publish(db, f"http://127.0.0.1:{garbage.port}")
            grant(db, SERVICE, CLIENT)
            answer = call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1")
            assert answer.status_code == 502 and problem_code(answer) == "Server.ServerProxy.ServiceFailed"
        finally:
            garbage.close()

    def test_an_unreachable_provider(self, db, nokor_server, hospital):
        publish(db, "http://127.0.0.1:9")
        grant(db, SERVICE, CLIENT)
        assert problem_code(call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1")) == \
            "Server.ServerProxy.ServiceFailed"

    def test_redirects_are_not_followed(self, db, provider, nokor_server, hospital):
        publish(db, provider.url, endpoints=[{"method": "GET", "path": "/redirect"}])
        grant(db, SERVICE, CLIENT)
        answer = call(nokor_server, hospital, f"/r1/{SERVICE}/redirect")
        assert answer.status_code == 502 and "redirect" in answer.json()["detail"]

    def test_oversized_request_and_answer(self, db, provider, nokor_server, hospital):
        publish(db, provider.url, max_body=100_000, endpoints=[{"method": "*", "path": "*"}])
        grant(db, SERVICE, CLIENT)
        answer = call(nokor_server, hospital, f"/r1/{SERVICE}/echo", method="POST", content=b"y" * 200_000)
        assert answer.status_code == 413 and problem_code(answer) == "Client.RequestTooLarge"
        chunked = call(nokor_server, hospital, f"/r1/{SERVICE}/echo", method="POST",
                       content=iter([b"y" * 60_000, b"y" * 60_000]))
        assert chunked.status_code == 413
        big = call(nokor_server, hospital, f"/r1/{SERVICE}/big")
        assert big.status_code == 502 and problem_code(big) == "Server.ServerProxy.ServiceFailed"

    def test_every_refusal_is_in_the_message_log(self, db, app, provider, nokor_server, hospital):
        publish(db, provider.url)
        call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1")
        call(nokor_server, None, f"/r1/{SERVICE}/persons/1")
        call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1", headers={"X-Road-Client": "KH/GOV/MOI/police"})
        found = records(db, app)
        assert [r.error for r in found] == ["Server.ServerProxy.AccessDenied",
                                            "Server.ClientProxy.AuthenticationFailed",
                                            "Server.ClientProxy.ForgedClientIdentifier"]
        assert all(r.batch_id is not None for r in found)
        assert "authorization" not in json.dumps(found[0].data).lower()


class TestMetadata:
    def test_list_clients_methods_allowed_methods_and_openapi(self, db, provider, nokor_server, hospital):
        publish(db, provider.url)
        exchange.publish_service(db, SYSTEM, data=exchange.ServiceCreate(
            subsystem="KH/GOV/MOI/population", code="addresses", title="Addresses", base_url=provider.url,
            openapi={"openapi": "3.0.3", "info": {"title": "Addresses", "version": "1"},
                     "paths": {"/addresses/{id}": {"get": {"responses": {"200": {"description": "ok"}}}}}}))
        db.commit()
        grant(db, SERVICE, CLIENT, "GET", "/persons/*")
        clients = call(nokor_server, hospital, "/listClients").json()["member"]
        assert {"objectType": "APPLICATION", "instanceId": "KH", "memberClass": "GOV", "memberCode": "MOI",
                "applicationCode": "population"} in [c["id"] for c in clients]
        methods = call(nokor_server, hospital, "/r1/KH/GOV/MOI/population/listMethods").json()["member"]
        assert sorted(m["serviceCode"] for m in methods) == ["addresses", "persons"]
        addresses = next(m for m in methods if m["serviceCode"] == "addresses")
        assert addresses["endpointList"]["member"] == [{"method": "GET", "path": "/addresses/*"}]
        allowed = call(nokor_server, hospital, "/r1/KH/GOV/MOI/population/allowedMethods").json()["member"]
        assert [m["serviceCode"] for m in allowed] == ["persons"]
        assert allowed[0]["endpointList"]["member"] == [{"method": "GET", "path": "/persons/*"}]
        document = call(nokor_server, hospital, "/r1/KH/GOV/MOI/population/getOpenAPI?serviceCode=addresses").json()
        assert "/addresses/{id}" in document["paths"]
        missing = call(nokor_server, hospital, "/r1/KH/GOV/MOI/population/getOpenAPI")
        assert problem_code(missing) == "Client.BadRequest"


class TestOperations:
    def test_metrics_and_stats_count_calls_per_service(self, db, app, client, provider, nokor_server, hospital):
        publish(db, provider.url)
        grant(db, SERVICE, CLIENT, "GET", "/persons/*")
        for _ in range(3):
            call(nokor_server, hospital, f"/r1/{SERVICE}/persons/1")
        call(nokor_server, hospital, f"/r1/{SERVICE}/echo", method="POST")
        metrics = httpx.get(nokor_server.url + "/metrics").text
        assert f'nokor_exchange_calls_total{{error="",service="{SERVICE}",status="200"}} 3.0' in metrics
        wait_until_written(app.state.exchange.log)
        manager = issue_key(db, permissions=["exchange.monitor"], identity="KH/GOV/NAO/ops")
        db.commit()
        stats = client.get("/api/v1/exchange/stats", headers={"Authorization": f"Bearer {manager}"}).json()
        row = next(s for s in stats if s["service"] == SERVICE)
        assert row["calls"] == 4 and row["errors"] == 1
