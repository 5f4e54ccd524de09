"""The simulated device's signer: fast, and identical to the package's own output."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from http_message_signatures import HTTPMessageVerifier, MappingKeyResolver, algorithms
from hypothesis import given, settings
from hypothesis import strategies as st

from openem.ingest.signatures import verify_device_request
from openem.sim.signer import DeviceSigner, generate_device_key_pair

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
DEVICE = generate_device_key_pair(device_id="dev-sim-1")
SIGNER = DeviceSigner(DEVICE.device_id, DEVICE.private_key)

paths = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=12),
    min_size=1,
    max_size=4,
).map(lambda parts: "/" + "/".join(parts))


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str]


def test_signer_produces_the_three_rfc_9421_headers() -> None:
    headers = SIGNER.sign("POST", "/device/v1/telemetry", b"{}", now=NOW)
    assert set(headers) == {"Content-Digest", "Signature-Input", "Signature"}
    assert headers["Content-Digest"].startswith("sha-256=:")
    assert headers["Signature-Input"] == (
        'openem=("@method" "@path" "content-digest");'
        f'created={int(NOW.timestamp())};keyid="dev-sim-1";alg="ed25519"'
    )


@settings(max_examples=60, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT"]),
    path=paths,
    body=st.binary(max_size=300),
    offset=st.integers(min_value=0, max_value=10_000),
)
def test_fast_signer_matches_the_package_byte_for_byte(
    method: str, path: str, body: bytes, offset: int
) -> None:
    now = NOW + timedelta(seconds=offset)
    assert SIGNER.sign(method, path, body, now=now) == SIGNER.sign_with_package(
        method, path, body, now=now
    )


def test_signatures_verify_with_the_package_verifier_directly() -> None:
    body = b'{"items":[]}'
    headers = SIGNER.sign("POST", "https://em.example/device/v1/telemetry?x=1", body)
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(
            public_keys={DEVICE.device_id: DEVICE.public_key}, private_keys={}
        ),
    )
    request = _Request("POST", "https://em.example/device/v1/telemetry", headers)
    (result,) = verifier.verify(
        request, body=body, require_components=("@method", "@path", "content-digest")
    )
    assert result.parameters["keyid"] == "dev-sim-1"
    assert result.body == body


def test_full_url_and_path_sign_the_same_path_and_ignore_the_query() -> None:
    by_url = SIGNER.sign("POST", "https://em.example:8443/device/v1/telemetry?a=1", b"x", now=NOW)
    by_path = SIGNER.sign("POST", "/device/v1/telemetry", b"x", now=NOW)
    assert by_url == by_path


def test_signer_output_is_accepted_by_the_ingest_verifier_for_many_bodies() -> None:
    for i in range(50):
        body = f'{{"items":[{{"seq":{i}}}]}}'.encode()
        headers = SIGNER.sign("POST", "/device/v1/telemetry", body, now=NOW)
        device_id = verify_device_request(
            method="POST",
            path="/device/v1/telemetry",
            headers=headers,
            body=body,
            resolve_key=lambda _key_id: DEVICE.public_key,
            now=NOW,
        )
        assert device_id == "dev-sim-1"


def test_key_pairs_are_fresh_and_exportable() -> None:
    first, second = generate_device_key_pair(device_id="a"), generate_device_key_pair(device_id="b")
    assert first.public_key_raw() != second.public_key_raw()
    assert len(first.public_key_raw()) == 32
    assert len(first.private_key_raw()) == 32
    loaded = load_pem_public_key(first.public_key_pem())
    assert isinstance(loaded, Ed25519PublicKey)
    assert loaded.public_bytes_raw() == first.public_key_raw()
