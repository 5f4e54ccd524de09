"""A test device: registered, paired through the real API, signing like the firmware."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from openem.sim.signer import DeviceSigner, generate_device_key_pair
from tests.conftest import bearer


@dataclass
class TestDevice:
    __test__ = False

    device_id: str
    serial: str
    signer: DeviceSigner
    next_seq: int = 1
    sent: list[int] = field(default_factory=list)

    def signed(
        self, method: str, path: str, body: bytes = b"", now: datetime | None = None
    ) -> dict[str, str]:
        headers = self.signer.sign(method, path, body, now=now)
        return headers | {"content-type": "application/json"}

    def position(
        self,
        *,
        lat: float = 51.5072,
        lon: float = -0.1276,
        accuracy_m: float = 8.0,
        at: datetime | None = None,
        seq: int | None = None,
    ) -> dict[str, Any]:
        item = {
            "type": "position",
            "seq": seq if seq is not None else self._seq(),
            "ts": (at or datetime.now(UTC)).isoformat(),
            "lat": lat,
            "lon": lon,
            "accuracy_m": accuracy_m,
            "source": "gnss",
        }
        return item

    def item(self, kind: str, *, at: datetime | None = None, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "seq": self._seq(),
            "ts": (at or datetime.now(UTC)).isoformat(),
        } | fields

    def _seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq


def register(client: TestClient, admin_token: str, *, kind: str = "smartwatch") -> dict[str, Any]:
    serial = f"SN-{uuid.uuid4().hex[:10]}"
    response = client.post(
        "/api/v1/devices", json={"kind": kind, "serial": serial}, headers=bearer(admin_token)
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def pair(
    client: TestClient | httpx.Client, admin_token: str, *, kind: str = "smartwatch"
) -> TestDevice:
    registered = register(client, admin_token, kind=kind)  # type: ignore[arg-type]
    code = client.post(
        f"/api/v1/devices/{registered['id']}/pairing-code", headers=bearer(admin_token)
    ).json()["code"]
    keys = generate_device_key_pair(device_id=registered["id"])
    response = client.post(
        "/device/v1/pair",
        json={
            "serial": registered["serial"],
            "code": code,
            "public_key": base64.b64encode(keys.public_key_raw()).decode(),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["device_id"] == registered["id"]
    return TestDevice(
        registered["id"], registered["serial"], DeviceSigner(registered["id"], keys.private_key)
    )


def send(
    client: TestClient | httpx.Client,
    device: TestDevice,
    items: list[dict[str, Any]],
    *,
    now: datetime | None = None,
) -> httpx.Response:
    body = json.dumps({"items": items}).encode()
    return client.post(
        "/device/v1/telemetry",
        content=body,
        headers=device.signed("POST", "/device/v1/telemetry", body, now=now),
    )


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)
