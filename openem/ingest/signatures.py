"""Verify device requests signed with HTTP Message Signatures (RFC 9421).

A device signs every request with its Ed25519 key. The signature covers
``@method``, ``@path`` and ``content-digest`` (RFC 9530, sha-256 or sha-512),
carries a ``created`` timestamp and uses the device id as ``keyid``::

    Content-Digest: sha-256=:<base64>:
    Signature-Input: openem=("@method" "@path" "content-digest");created=1795828832;\
        keyid="dev-1";alg="ed25519"      (one line on the wire)
    Signature: openem=:<base64>:

Parsing of the signature fields and the cryptographic check are done by the
``http-message-signatures`` package (its ``HTTPMessageVerifier``); this module
adds the device policy on top: required components, a clock that tests
control, the freshness window, body digest checks with distinct reasons, and
an optional replay guard.

Rejection reasons are machine-readable and never include request content.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

__all__ = [
    "MAX_FUTURE_SKEW",
    "MAX_SIGNATURE_AGE",
    "REQUIRED_COMPONENTS",
    "SIGNATURE_LABEL",
    "RejectionReason",
    "ReplayGuard",
    "SignatureRejected",
    "VerifiedRequest",
    "check_content_digest",
    "verify_device_request",
    "verify_device_request_detailed",
]

SIGNATURE_LABEL = "openem"
REQUIRED_COMPONENTS: tuple[str, ...] = ("@method", "@path", "content-digest")
MAX_SIGNATURE_AGE = timedelta(minutes=5)
MAX_FUTURE_SKEW = timedelta(minutes=1)
DIGEST_ALGORITHMS: Mapping[str, Callable[[bytes], Any]] = {
    "sha-256": hashlib.sha256,
    "sha-512": hashlib.sha512,
}
# Host used only to give the verifier an absolute URL; @authority is not covered.
_PLACEHOLDER_ORIGIN = "http://device.invalid"


class RejectionReason(StrEnum):
    missing_signature = "missing_signature"
    malformed_signature = "malformed_signature"
    components_missing = "components_missing"
    created_too_old = "created_too_old"
    created_in_future = "created_in_future"
    unknown_key = "unknown_key"
    missing_digest = "missing_digest"
    digest_mismatch = "digest_mismatch"
    bad_signature = "bad_signature"
    replayed = "replayed"


class SignatureRejected(Exception):
    """The request is not accepted as coming from a known device."""

    def __init__(self, reason: RejectionReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class ReplayGuard:
    """Remembers verified signatures until they could no longer be accepted.

    A signature is only accepted within ``MAX_SIGNATURE_AGE`` of its
    ``created`` time, so an entry can be forgotten after ``created + window``.
    Memory is bounded by ``max_entries`` (about 180 bytes each, measured; the
    default 250,000 is about 45 MB): when full, the entries closest to expiry
    are dropped first, so size it for the peak request rate of this process
    times the window (830 requests/s for the default). Only record
    signatures after they verified, or a forger could pre-empt genuine
    requests. Thread-safe. It is per process: with several API processes,
    route each device to one process or keep the seen set in a shared store.

    Ed25519 signatures are deterministic: a device re-sending the identical
    request within the same second produces the same signature and is
    reported as a replay; ingest is idempotent on (device, seq), so the
    service may answer such a replay as a duplicate rather than an attack.
    """

    def __init__(
        self, *, window: timedelta = MAX_SIGNATURE_AGE, max_entries: int = 250_000
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._window = window.total_seconds()
        self._max_entries = max_entries
        self._seen: set[bytes] = set()
        self._heap: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._seen)

    def check_and_remember(
        self, *, key_id: str, token: bytes, created: datetime, now: datetime
    ) -> bool:
        """Return True the first time ``(key_id, token)`` is seen, False on a replay."""
        fingerprint = hashlib.blake2b(
            key_id.encode("utf-8") + b"\x00" + token, digest_size=16
        ).digest()
        expires_at = created.timestamp() + self._window
        with self._lock:
            self._forget_expired(now.timestamp())
            if fingerprint in self._seen:
                return False
            while len(self._seen) >= self._max_entries:
                _, oldest = heapq.heappop(self._heap)
                self._seen.discard(oldest)
            self._seen.add(fingerprint)
            heapq.heappush(self._heap, (expires_at, fingerprint))
            return True

    def _forget_expired(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            _, fingerprint = heapq.heappop(self._heap)
            self._seen.discard(fingerprint)


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    key_id: str
    created: datetime
    signature: bytes


@dataclass(frozen=True, slots=True)
class _SignatureInput:
    label: str
    components: tuple[str, ...]
    params: Mapping[str, object]
    signature: bytes


class _HeaderLines:
    """Read-only header view for the verifier: every field line, in order."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        self._lines = lines

    def items(self) -> Iterable[tuple[str, str]]:
        return self._lines

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._lines)

    def get(self, name: str) -> str | None:
        values = [v.strip(" \t") for n, v in self._lines if n.lower() == name]
        return ", ".join(values) if values else None


@dataclass
class _Request:
    method: str
    url: str
    headers: _HeaderLines


class _OneKey(HTTPSignatureKeyResolver):
    def __init__(self, *, key_id: str, key: Ed25519PublicKey) -> None:
        self._key_id = key_id
        self._key = key

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey | None:
        return self._key if key_id == self._key_id else None

    def resolve_private_key(self, key_id: str) -> None:
        raise NotImplementedError("verification only")


class _DeviceVerifier(HTTPMessageVerifier):
    """The package's verifier, with its clock replaced by the caller's ``now``.

    ``created`` has already been checked against ``now`` (with distinct
    reasons) before the package runs; here only ``expires`` is enforced.
    """

    def __init__(self, *, key_resolver: HTTPSignatureKeyResolver, now: datetime) -> None:
        super().__init__(signature_algorithm=algorithms.ED25519, key_resolver=key_resolver)
        self._now = now

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        expires = sig_input.params.get("expires")
        if expires is not None:
            if type(expires) is not int:
                raise InvalidSignature("expires must be an integer")
            if datetime.fromtimestamp(expires, tz=UTC) < self._now:
                raise InvalidSignature("signature expired")


def _header_lines(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    items = headers.items()
    return [(str(name), str(value)) for name, value in items]


def _parse_signature_input(headers: _HeaderLines) -> _SignatureInput:
    raw_input = headers.get("signature-input")
    raw_signature = headers.get("signature")
    if not raw_input or not raw_signature:
        raise SignatureRejected(RejectionReason.missing_signature)
    try:
        inputs: Any = http_sf.parse(raw_input.encode("ascii"), tltype="dictionary")
        signatures: Any = http_sf.parse(raw_signature.encode("ascii"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SignatureRejected(RejectionReason.malformed_signature) from exc
    if not isinstance(inputs, dict) or not isinstance(signatures, dict):
        raise SignatureRejected(RejectionReason.malformed_signature)
    if len(inputs) != 1 or inputs.keys() != signatures.keys():
        raise SignatureRejected(RejectionReason.malformed_signature)
    ((label, (members, params)),) = inputs.items()
    signature = signatures[label][0]
    if not isinstance(members, list) or not isinstance(signature, bytes):
        raise SignatureRejected(RejectionReason.malformed_signature)
    components: list[str] = []
    for value, component_params in members:
        if not isinstance(value, str):
            raise SignatureRejected(RejectionReason.malformed_signature)
        # A parameterised component (e.g. content-digest;key="sha-256") is not
        # the plain component this policy requires.
        components.append(value if not component_params else f"{value};params")
    return _SignatureInput(
        label=label, components=tuple(components), params=params, signature=signature
    )


def _check_created(params: Mapping[str, object], *, now: datetime) -> datetime:
    created_raw = params.get("created")
    if created_raw is None or not isinstance(params.get("keyid"), str):
        raise SignatureRejected(RejectionReason.components_missing)
    if type(created_raw) is not int:
        raise SignatureRejected(RejectionReason.malformed_signature)
    try:
        created = datetime.fromtimestamp(created_raw, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SignatureRejected(RejectionReason.malformed_signature) from exc
    if now - created > MAX_SIGNATURE_AGE:
        raise SignatureRejected(RejectionReason.created_too_old)
    if created - now > MAX_FUTURE_SKEW:
        raise SignatureRejected(RejectionReason.created_in_future)
    return created


def check_content_digest(*, header: str | None, body: bytes) -> None:
    """RFC 9530 Content-Digest: every sha-256/sha-512 member must match ``body``.

    Members with other algorithms are ignored; at least one accepted member
    is required.
    """
    if header is None:
        raise SignatureRejected(RejectionReason.missing_digest)
    try:
        members: Any = http_sf.parse(header.encode("ascii"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SignatureRejected(RejectionReason.digest_mismatch) from exc
    if not isinstance(members, dict):
        raise SignatureRejected(RejectionReason.digest_mismatch)
    checked = 0
    for algorithm, (value, _params) in members.items():
        hasher = DIGEST_ALGORITHMS.get(algorithm)
        if hasher is None:
            continue
        if not isinstance(value, bytes) or not hmac.compare_digest(value, hasher(body).digest()):
            raise SignatureRejected(RejectionReason.digest_mismatch)
        checked += 1
    if checked == 0:
        raise SignatureRejected(RejectionReason.missing_digest)


def verify_device_request_detailed(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: Callable[[str], Ed25519PublicKey | None],
    now: datetime,
    replay_guard: ReplayGuard | None = None,
) -> VerifiedRequest:
    """Like :func:`verify_device_request`, returning the verified metadata.

    ``path`` is the percent-encoded request path as received (a query string,
    if present, is not covered). ``resolve_key`` returns ``None`` for unknown,
    retired or revoked devices.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    lines = _HeaderLines(_header_lines(headers))
    parsed = _parse_signature_input(lines)
    if not set(REQUIRED_COMPONENTS) <= set(parsed.components):
        raise SignatureRejected(RejectionReason.components_missing)
    created = _check_created(parsed.params, now=now)
    key_id = str(parsed.params["keyid"])
    key = resolve_key(key_id)
    if key is None:
        raise SignatureRejected(RejectionReason.unknown_key)
    check_content_digest(header=lines.get("content-digest"), body=body)

    verifier = _DeviceVerifier(key_resolver=_OneKey(key_id=key_id, key=key), now=now)
    request = _Request(method=method.upper(), url=_PLACEHOLDER_ORIGIN + path, headers=lines)
    try:
        verifier.verify(request, max_age=None, require_components=REQUIRED_COMPONENTS)
    except HTTPMessageSignaturesException as exc:
        raise SignatureRejected(RejectionReason.bad_signature) from exc

    if replay_guard is not None and not replay_guard.check_and_remember(
        key_id=key_id, token=parsed.signature, created=created, now=now
    ):
        raise SignatureRejected(RejectionReason.replayed)
    return VerifiedRequest(key_id=key_id, created=created, signature=parsed.signature)


def verify_device_request(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    resolve_key: Callable[[str], Ed25519PublicKey | None],
    now: datetime,
    replay_guard: ReplayGuard | None = None,
) -> str:
    """Verify a signed device request and return its key id (the device id).

    Raises :class:`SignatureRejected` with a :class:`RejectionReason`.
    Checks run cheapest first: signature fields present and parseable,
    required components covered, ``created`` within five minutes in the past
    and one minute in the future, key known, body digest, signature, replay.
    """
    return verify_device_request_detailed(
        method=method,
        path=path,
        headers=headers,
        body=body,
        resolve_key=resolve_key,
        now=now,
        replay_guard=replay_guard,
    ).key_id
