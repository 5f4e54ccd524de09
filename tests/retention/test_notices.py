"""Privacy notices: at enrolment and on request, in the wearer's language, delivery and ack kept."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.conftest import bearer
from tests.support import factories
from tests.support.devices import pair


def test_enrolment_sends_the_notice_in_the_wearers_language_and_records_the_ack(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    caseworker, admin = bearer(staff_tokens["caseworker"]), bearer(staff_tokens["admin"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(language="pl"), headers=caseworker
    ).json()["id"]
    order_id = client.post(
        "/api/v1/orders", json=factories.order_data(subject_id), headers=caseworker
    ).json()["id"]
    device = pair(client, staff_tokens["admin"])
    client.post(
        f"/api/v1/devices/{device.device_id}/assignment", json={"order_id": order_id}, headers=admin
    )
    url = f"/api/v1/subjects/{subject_id}/privacy-notices"
    [sent] = client.get(url, headers=caseworker).json()
    assert (sent["trigger"], sent["language"], sent["delivered_at"]) == ("enrolment", "pl", None)

    items = client.get("/device/v1/inbox", headers=device.signed("GET", "/device/v1/inbox"))
    [notice] = [i for i in items.json()["items"] if i["kind"] == "notice"]
    payload = notice["payload"]
    assert payload["type"] == "privacy_notice" and payload["language"] == "pl"
    assert {"what", "why", "how_long", "shared_with"} <= set(payload)
    assert "6.0 lat" in payload["how_long"]
    ack = json.dumps({"ids": [notice["id"]]}).encode()
    client.post(
        "/device/v1/inbox/ack",
        content=ack,
        headers=device.signed("POST", "/device/v1/inbox/ack", ack),
    )
    [seen] = client.get(url, headers=caseworker).json()
    assert seen["delivered_at"] is not None and seen["acked_at"] is not None


def test_notice_on_request_and_refused_without_a_device(
    client: TestClient, staff_tokens: dict[str, str]
) -> None:
    caseworker = bearer(staff_tokens["caseworker"])
    subject_id = client.post(
        "/api/v1/subjects", json=factories.subject_data(), headers=caseworker
    ).json()["id"]
    refused = client.post(f"/api/v1/subjects/{subject_id}/privacy-notices", headers=caseworker)
    assert refused.status_code == 422
    assert "no assigned device" in refused.json()["detail"]
