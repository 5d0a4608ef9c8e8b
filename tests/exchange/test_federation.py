"""Federation: two Nokor instances (Cambodia and Lithuania), each with its own database, PKI and
process, trust each other's root, and a Cambodian agency system calls a Lithuanian service and pulls
Lithuanian events through its own gateway; the gateways authenticate each other by mutual TLS."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.exchange.conftest import ServerThread, free_port, provider_app

pytestmark = pytest.mark.slow
NOKOR = str(Path(sys.executable).with_name("nokor"))


class Instance:
    """One Nokor instance: its data dir, its SQLite database, its settings, and later its process."""

    def __init__(self, root: Path, code: str) -> None:
        self.code = code
        self.port = free_port()
        self.dir = root / code
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NOKOR_")}
        self.env.update({"NOKOR_DATA_DIR": str(self.dir),
                         "NOKOR_DATABASE_URL": f"sqlite:///{self.dir / 'nokor.db'}",
                         "NOKOR_EXCHANGE_INSTANCE": code, "NOKOR_BASE_URL": f"https://127.0.0.1:{self.port}",
                         "NOKOR_SITE_NAME": f"Nokor {code}", "NOKOR_LOG_LEVEL": "WARNING"})
        self.process: subprocess.Popen[bytes] | None = None

    def nokor(self, *args: str) -> str:
        done = subprocess.run([NOKOR, *args], env=self.env, capture_output=True, text=True, timeout=120,
                              cwd=self.dir)
        assert done.returncode == 0, f"nokor {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def serve(self) -> None:
        log = (self.dir / "serve.log").open("wb")
        self.process = subprocess.Popen([NOKOR, "serve", "--tls", "--port", str(self.port)], env=self.env,
                                        cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.client().get("/health/live").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError((self.dir / "serve.log").read_text())

    def client(self, key: str | None = None) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.dir / "exchange" / "trusted-roots.pem"))
        context.check_hostname = False
        return httpx.Client(base_url=f"https://127.0.0.1:{self.port}", verify=context, timeout=30,
                            headers={"Authorization": f"Bearer {key}"} if key else {})

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[Instance, Instance, dict[str, str], ServerThread]]:  # type: ignore[no-untyped-def]
    tmp_path = tmp_path_factory.mktemp("federation")
    kh, lt = Instance(tmp_path, "KH"), Instance(tmp_path, "LT")
    provider = ServerThread(provider_app).start()
    keys: dict[str, str] = {}
    try:
        for inst in (kh, lt):
            inst.dir.mkdir()
            inst.nokor("db", "upgrade")
            inst.nokor("trust", "init")
            inst.nokor("exchange", "init")
            inst.nokor("exchange", "anchor", "--out", str(tmp_path / f"{inst.code}.json"))
        kh.nokor("exchange", "trust", str(tmp_path / "LT.json"))
        lt.nokor("exchange", "trust", str(tmp_path / "KH.json"))
        keys["kh-post"] = kh.nokor("accounts", "create-client", "KH post tracking", "--identity",
                                   "KH/GOV/POST/tracking").strip().splitlines()[-1]
        keys["kh-other"] = kh.nokor("accounts", "create-client", "KH tax", "--identity",
                                    "KH/GOV/GDT/tax").strip().splitlines()[-1]
        keys["lt-post"] = lt.nokor("accounts", "create-client", "LT parcels", "--identity",
                                   "LT/GOV/POST/parcels").strip().splitlines()[-1]
        lt.nokor("exchange", "add-member", "LT/GOV/POST", "--name", "Lietuvos paštas")
        lt.nokor("exchange", "add-subsystem", "LT/GOV/POST/parcels", "--name", "Parcels")
        lt.nokor("exchange", "add-subsystem", "LT/GOV/POST/parcel-events", "--name", "Parcel events", "--room",
                 "--publisher", "LT/GOV/POST/parcels")
        lt.nokor("exchange", "publish", "LT/GOV/POST/parcels", "track", "--url", provider.url, "--title",
                 "Track a parcel", "--endpoint", "GET /persons/*")
        lt.nokor("exchange", "grant", "LT/GOV/POST/parcels/track", "KH/GOV/POST/tracking", "--method", "GET",
                 "--path", "/persons/*")
        kh.serve()
        lt.serve()
        yield kh, lt, keys, provider
    finally:
        kh.stop()
        lt.stop()
        provider.stop()


def test_calls_and_events_cross_between_two_instances(pair):
    kh, lt, keys, _provider = pair
    with kh.client(keys["kh-post"]) as client:
        answer = client.get("/r1/LT/GOV/POST/parcels/track/persons/RR123456785KH",
                            headers={"X-Road-Client": "KH/GOV/POST/tracking"})
        assert answer.status_code == 200, answer.text
        seen = answer.json()["seen_headers"]
        assert seen["x-road-client"] == "KH/GOV/POST/tracking"
        assert seen["x-road-service"] == "LT/GOV/POST/parcels/track"
        assert answer.headers["x-road-request-hash"]
        # LT's access rights decide: the Cambodian tax system has none there
    with kh.client(keys["kh-other"]) as client:
        denied = client.get("/r1/LT/GOV/POST/parcels/track/persons/RR1")
        assert denied.status_code == 403
        assert json.loads(denied.content)["code"] == "Server.ServerProxy.AccessDenied"
        unknown = client.get("/r1/EE/GOV/X/y/z/a")
        assert json.loads(unknown.content)["code"] == "Server.ClientProxy.UnknownInstance"

    # events: LT defines a type, KH subscribes through its own gateway, LT approves and publishes, KH pulls
    schema = {"type": "object", "required": ["parcel"], "properties": {"parcel": {"type": "string"}}}
    with lt.client(keys["lt-post"]) as lt_client, kh.client(keys["kh-post"]) as kh_client:
        room = "/r1/LT/GOV/POST/parcel-events"
        assert lt_client.post(f"{room}/api/v1/eventType", json={"eventType": "arrived", "schema": schema}
                              ).status_code == 200
        sub = kh_client.post(f"{room}/api/v1/subs/arrived", json={"delivery": "PULL"})
        assert sub.status_code == 200, sub.text
        assert sub.json()["subscriberId"]["instanceId"] == "KH"
        assert lt_client.post(f"{room}/api/v1/subs/arrived/{sub.json()['id']}/approve").status_code == 200
        event = lt_client.post(f"{room}/pub/v1/arrived", json={"event": {"parcel": "RR123456785KH"}})
        assert event.status_code == 201
        pulled = kh_client.get(f"{room}/pull/v1/arrived")
        assert pulled.status_code == 200 and pulled.json()["event"] == {"parcel": "RR123456785KH"}
        assert kh_client.delete(f"{room}/pull/v1/arrived/{event.json()['id']}").status_code == 204
        assert kh_client.get(f"{room}/pull/v1/arrived").status_code == 404


def test_a_gateway_without_a_trusted_certificate_cannot_speak_for_another_instance(pair):
    _kh, lt, keys, _provider = pair
    # A KH agency system calling LT's gateway directly, with its KH key, is nobody there.
    with lt.client(keys["kh-post"]) as client:
        answer = client.get("/r1/LT/GOV/POST/parcels/track/persons/1",
                            headers={"X-Road-Client": "KH/GOV/POST/tracking"})
        assert answer.status_code == 401
