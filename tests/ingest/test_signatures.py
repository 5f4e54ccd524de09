"""Device request signatures: RFC 9421 (ed25519) over @method, @path, content-digest."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from hypothesis import given, settings
from hypothesis import strategies as st

from openem.ingest import signatures
from openem.ingest.signatures import (
    RejectionReason,
    ReplayGuard,
    SignatureRejected,
    verify_device_request,
    verify_device_request_detailed,
)
from openem.sim.signer import DeviceKeyPair, DeviceSigner, generate_device_key_pair

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
PATH = "/device/v1/telemetry"
BODY = b'{"items":[{"seq":1,"ts":"2026-03-01T11:59:00Z","type":"heartbeat"}]}'


@dataclass
class Message:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


# A device id in UUID form takes the templated path; any other key id, the package's verifier.
KEY_IDS = {"templated": "0b5e4e2c-4a51-4c33-9f1e-3d1c9a6b7e10", "package": "dev-0001"}


@pytest.fixture(scope="module", params=sorted(KEY_IDS))
def device(request: pytest.FixtureRequest) -> DeviceKeyPair:
    return generate_device_key_pair(device_id=KEY_IDS[request.param])


@pytest.fixture
def signer(device: DeviceKeyPair) -> DeviceSigner:
    return DeviceSigner(device.device_id, device.private_key)


def _resolver(device: DeviceKeyPair):  # type: ignore[no-untyped-def]
    def resolve(key_id: str) -> Ed25519PublicKey | None:
        return device.public_key if key_id == device.device_id else None

    return resolve


def _verify(
    device: DeviceKeyPair,
    headers: dict[str, str],
    *,
    body: bytes = BODY,
    method: str = "POST",
    path: str = PATH,
    now: datetime = NOW,
    replay_guard: ReplayGuard | None = None,
) -> str:
    return verify_device_request(
        method=method,
        path=path,
        headers=headers,
        body=body,
        resolve_key=_resolver(device),
        now=now,
        replay_guard=replay_guard,
    )


def _reason(excinfo: pytest.ExceptionInfo[SignatureRejected]) -> RejectionReason:
    return excinfo.value.reason


def _package_sign(
    device: DeviceKeyPair,
    *,
    components: tuple[str, ...],
    body: bytes | None = BODY,
    headers: dict[str, str] | None = None,
    use_existing_digest: bool = False,
) -> dict[str, str]:
    """Sign with the package directly, to build requests our signer would not."""
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(
            public_keys={}, private_keys={device.device_id: device.private_key}
        ),
    )
    message = Message("POST", "http://device.invalid" + PATH, dict(headers or {}))
    signer.sign(
        message,
        key_id=device.device_id,
        created=NOW,
        label="openem",
        covered_component_ids=components,
        body=body,
        use_existing_digest=use_existing_digest,
    )
    return message.headers


def test_signed_request_round_trips_to_device_id(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    assert _verify(device, headers) == device.device_id


def test_verified_request_reports_created_time(device: DeviceKeyPair, signer: DeviceSigner) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    verified = verify_device_request_detailed(
        method="POST", path=PATH, headers=headers, body=BODY, resolve_key=_resolver(device), now=NOW
    )
    assert verified.created == NOW
    assert len(verified.signature) == 64


def test_header_names_are_matched_case_insensitively(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = {k.lower(): v for k, v in signer.sign("POST", PATH, BODY, now=NOW).items()}
    assert _verify(device, headers) == device.device_id


def test_empty_body_is_signed_and_verified(device: DeviceKeyPair, signer: DeviceSigner) -> None:
    headers = signer.sign("GET", "/device/v1/config", b"", now=NOW)
    verified = _verify(device, headers, body=b"", method="GET", path="/device/v1/config")
    assert verified == device.device_id


def test_request_without_signature_headers_is_refused_as_missing_signature(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    for name in ("Signature", "Signature-Input"):
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(SignatureRejected) as excinfo:
            _verify(device, partial)
        assert _reason(excinfo) is RejectionReason.missing_signature


def test_signature_from_unknown_retired_or_revoked_device_is_refused_as_unknown_key(
    device: DeviceKeyPair,
) -> None:
    stranger = generate_device_key_pair(device_id="dev-9999")
    headers = DeviceSigner(stranger.device_id, stranger.private_key).sign(
        "POST", PATH, BODY, now=NOW
    )
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.unknown_key


def test_signature_made_with_another_key_is_refused_as_bad_signature(device: DeviceKeyPair) -> None:
    impostor = generate_device_key_pair(device_id=device.device_id)
    headers = DeviceSigner(device.device_id, impostor.private_key).sign("POST", PATH, BODY, now=NOW)
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.bad_signature


def test_tampered_body_is_refused_as_digest_mismatch(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers, body=BODY.replace(b'"seq":1', b'"seq":2'))
    assert _reason(excinfo) is RejectionReason.digest_mismatch


def test_tampered_body_with_recomputed_digest_is_refused_as_bad_signature(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    tampered = BODY.replace(b'"seq":1', b'"seq":2')
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    headers["Content-Digest"] = signer.sign("POST", PATH, tampered, now=NOW)["Content-Digest"]
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers, body=tampered)
    assert _reason(excinfo) is RejectionReason.bad_signature


def test_request_without_content_digest_is_refused_as_missing_digest(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    del headers["Content-Digest"]
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.missing_digest


def test_content_digest_with_only_unsupported_algorithms_is_refused_as_missing_digest(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    md5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()
    headers["Content-Digest"] = f"md5=:{md5}:"
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.missing_digest


def test_malformed_content_digest_is_refused_as_digest_mismatch(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    headers["Content-Digest"] = "sha-256=not-a-byte-sequence"
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.digest_mismatch


def test_sha512_content_digest_is_accepted(device: DeviceKeyPair) -> None:
    sha512 = base64.b64encode(hashlib.sha512(BODY).digest()).decode()
    headers = _package_sign(
        device,
        components=("@method", "@path", "content-digest"),
        headers={"Content-Digest": f"sha-512=:{sha512}:"},
        use_existing_digest=True,
    )
    assert _verify(device, headers) == device.device_id


def test_signature_created_more_than_five_minutes_ago_is_refused(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW - timedelta(minutes=5, seconds=1))
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.created_too_old


def test_signature_created_exactly_five_minutes_ago_is_accepted(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW - timedelta(minutes=5))
    assert _verify(device, headers) == device.device_id


def test_signature_created_more_than_a_minute_in_the_future_is_refused(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW + timedelta(seconds=61))
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.created_in_future


def test_signature_created_within_a_minute_of_clock_skew_is_accepted(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW + timedelta(seconds=59))
    assert _verify(device, headers) == device.device_id


def test_signature_not_covering_the_path_is_refused_as_components_missing(
    device: DeviceKeyPair,
) -> None:
    headers = _package_sign(device, components=("@method", "@authority"))
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.components_missing


def test_signature_not_covering_the_digest_is_refused_as_components_missing(
    device: DeviceKeyPair,
) -> None:
    headers = _package_sign(device, components=("@method", "@path"), body=None)
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.components_missing


def test_signature_without_created_parameter_is_refused_as_components_missing(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    created = f";created={int(NOW.timestamp())}"
    headers["Signature-Input"] = headers["Signature-Input"].replace(created, "")
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.components_missing


def test_request_replayed_to_another_path_is_refused_as_bad_signature(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers, path="/device/v1/checkins")
    assert _reason(excinfo) is RejectionReason.bad_signature


def test_request_replayed_with_another_method_is_refused_as_bad_signature(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers, method="PUT")
    assert _reason(excinfo) is RejectionReason.bad_signature


def test_moving_created_time_invalidates_the_signature(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW - timedelta(minutes=10))
    old, new = int((NOW - timedelta(minutes=10)).timestamp()), int(NOW.timestamp())
    headers["Signature-Input"] = headers["Signature-Input"].replace(str(old), str(new))
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.bad_signature


@pytest.mark.parametrize(
    "signature_input",
    ["openem=not a list", "openem=(", 'openem=("@method");created="soon";keyid="dev-0001"'],
)
def test_malformed_signature_input_is_refused(
    device: DeviceKeyPair, signer: DeviceSigner, signature_input: str
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    headers["Signature-Input"] = signature_input
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) in {
        RejectionReason.malformed_signature,
        RejectionReason.components_missing,
    }


def test_two_signatures_on_one_request_are_refused_as_malformed(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    headers["Signature-Input"] += ", " + headers["Signature-Input"].replace("openem=", "other=")
    headers["Signature"] += ", " + headers["Signature"].replace("openem=", "other=")
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) is RejectionReason.malformed_signature


def test_rejection_message_is_only_the_reason(device: DeviceKeyPair) -> None:
    stranger = generate_device_key_pair(device_id="dev-secret-name")
    headers = DeviceSigner(stranger.device_id, stranger.private_key).sign(
        "POST", PATH, BODY, now=NOW
    )
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert str(excinfo.value) == "unknown_key"


def test_replayed_request_is_refused_by_the_replay_guard(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    guard = ReplayGuard()
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    assert _verify(device, headers, replay_guard=guard) == device.device_id
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers, now=NOW + timedelta(seconds=30), replay_guard=guard)
    assert _reason(excinfo) is RejectionReason.replayed


def test_requests_that_fail_verification_are_not_remembered(
    device: DeviceKeyPair, signer: DeviceSigner
) -> None:
    guard = ReplayGuard()
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    with pytest.raises(SignatureRejected):
        _verify(device, headers, body=b"forged", replay_guard=guard)
    assert len(guard) == 0
    assert _verify(device, headers, replay_guard=guard) == device.device_id


def test_replay_guard_forgets_signatures_once_they_expire() -> None:
    guard = ReplayGuard(window=timedelta(minutes=5))
    assert guard.check_and_remember(key_id="d", token=b"sig-1", created=NOW, now=NOW)
    assert not guard.check_and_remember(key_id="d", token=b"sig-1", created=NOW, now=NOW)
    later = NOW + timedelta(minutes=5, seconds=1)
    assert guard.check_and_remember(key_id="d", token=b"sig-2", created=later, now=later)
    assert len(guard) == 1


def test_replay_guard_keeps_devices_apart() -> None:
    guard = ReplayGuard()
    assert guard.check_and_remember(key_id="a", token=b"same", created=NOW, now=NOW)
    assert guard.check_and_remember(key_id="b", token=b"same", created=NOW, now=NOW)


def test_replay_guard_memory_is_bounded() -> None:
    guard = ReplayGuard(max_entries=100)
    for i in range(1_000):
        created = NOW + timedelta(milliseconds=i)
        assert guard.check_and_remember(
            key_id="d", token=i.to_bytes(4, "big"), created=created, now=NOW
        )
    assert len(guard) == 100
    # the most recent ones are still remembered
    assert not guard.check_and_remember(
        key_id="d",
        token=(999).to_bytes(4, "big"),
        created=NOW + timedelta(milliseconds=999),
        now=NOW,
    )


def test_naive_clock_is_a_programming_error(device: DeviceKeyPair, signer: DeviceSigner) -> None:
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    with pytest.raises(ValueError):
        _verify(device, headers, now=NOW.replace(tzinfo=None))


@given(
    created=st.integers(min_value=1_500_000_000, max_value=4_000_000_000),
    key_id=st.uuids().map(str),
    method=st.sampled_from(["GET", "POST", "PUT"]),
    path=st.from_regex(r"/device/v1(/[a-z0-9._~-]{1,12}){0,3}", fullmatch=True),
    body=st.binary(max_size=64),
)
@settings(max_examples=200, deadline=None)
def test_templated_signature_base_is_the_packages_own(
    created: int, key_id: str, method: str, path: str, body: bytes
) -> None:
    message = Message(method, "http://device.invalid" + path)
    prepared = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={}),
    ).prepare(
        message,
        key_id=key_id,
        created=datetime.fromtimestamp(created, tz=UTC),
        label="openem",
        covered_component_ids=("@method", "@path", "content-digest"),
        body=body,
    )
    headers = message.headers | {"Signature-Input": f"openem={prepared.signature_params}"}
    lines = signatures._HeaderLines(list(headers.items()))
    parsed = signatures._SignatureInput(
        label="openem", components=(), params={"keyid": key_id}, signature=b""
    )
    base = signatures._templated_base(
        method=method,
        path=path,
        lines=lines,
        parsed=parsed,
        created=datetime.fromtimestamp(created, tz=UTC),
    )
    assert base == prepared.signature_base


def test_device_signed_requests_take_the_templated_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = generate_device_key_pair(device_id=KEY_IDS["templated"])
    signer = DeviceSigner(device.device_id, device.private_key)

    def package_not_expected(**_: object) -> None:
        raise AssertionError("verified by the package instead of the template")

    monkeypatch.setattr(signatures, "_verify_with_package", package_not_expected)
    headers = signer.sign("POST", PATH, BODY, now=NOW)
    assert _verify(device, headers) == device.device_id
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers, path="/device/v1/inbox/ack")
    assert _reason(excinfo) == RejectionReason.bad_signature


def test_other_parameter_orders_are_verified_by_the_package(device: DeviceKeyPair) -> None:
    headers = _package_sign(device, components=("@method", "@path", "content-digest"))
    label, _, params = headers["Signature-Input"].partition("=")
    components, *members = params.split(";")
    headers["Signature-Input"] = f"{label}=" + ";".join([components, *reversed(members)])
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(device, headers)
    assert _reason(excinfo) == RejectionReason.bad_signature


@given(
    label=st.from_regex(r"[a-z][a-z0-9_.-]{0,10}", fullmatch=True),
    created=st.integers(min_value=1, max_value=10**15 - 1),
    key_id=st.uuids().map(str),
    signature=st.binary(min_size=0, max_size=80),
)
@settings(max_examples=200, deadline=None)
def test_the_device_layout_reads_as_the_structured_fields_parser_reads_it(
    label: str, created: int, key_id: str, signature: bytes
) -> None:
    raw_input = (
        f'{label}=("@method" "@path" "content-digest");created={created};'
        f'keyid="{key_id}";alg="ed25519"'
    )
    raw_signature = f"{label}=:{base64.b64encode(signature).decode()}:"
    fast = signatures._device_signature_input(raw_input, raw_signature)
    assert fast == signatures._structured_signature_input(raw_input, raw_signature)


KEY = 'keyid="0f8fad5b-d9cb-469f-a165-70867728950e"'
DEVICE_INPUT = f'openem=("@method" "@path" "content-digest");created=1;{KEY};alg="ed25519"'


@pytest.mark.parametrize(
    "raw_input",
    [
        DEVICE_INPUT.replace("created=1", "created=01"),
        DEVICE_INPUT.replace(' "content-digest"', ""),
        f'openem=("@method" "@path" "content-digest");{KEY};created=1;alg="ed25519"',
        DEVICE_INPUT + " ",
    ],
)
def test_other_spellings_are_left_to_the_structured_fields_parser(raw_input: str) -> None:
    assert signatures._device_signature_input(DEVICE_INPUT, "openem=:AAAA:") is not None
    assert signatures._device_signature_input(raw_input, "openem=:AAAA:") is None
