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

The package is pure Python and spends most of a verification serialising
Structured Fields. For the one layout devices send (the three components,
then ``created``, ``keyid`` and ``alg`` in the order the package's own signer
writes them), the package builds the signature base once per method and path
with placeholder values; a request whose ``Signature-Input`` is byte for byte
that layout with its own ``created`` and ``keyid`` is checked against the
same base with its values filled in. Anything else goes through the
package's verifier. Both produce the same base (tested). The fields of that
layout are read by exact patterns that give what the Structured Fields parser
gives (property-tested), and its Ed25519 check is libsodium's.

Rejection reasons are machine-readable and never include request content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

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
        self._values: dict[str, list[str]] = {}  # by lower-case name, in order
        for name, value in lines:
            self._values.setdefault(name.lower(), []).append(value.strip(" \t"))

    def items(self) -> Iterable[tuple[str, str]]:
        return self._lines

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._lines))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return ", ".join(values) if values else None

    def count(self, name: str) -> int:
        return len(self._values.get(name, ()))


@dataclass
class _Request:
    method: str
    url: str
    headers: _HeaderLines


@dataclass
class _Draft:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


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


_PLACEHOLDER_CREATED = 1_000_000_000
_PLACEHOLDER_KEY_ID = "00000000-0000-0000-0000-000000000000"
_DIGEST_LINE = '"content-digest": '


@dataclass(frozen=True, slots=True)
class _BaseTemplate:
    """The package's signature base for one method and path, around the values that vary."""

    head: bytes
    tail: bytes
    components: str

    def params(self, *, created: int, key_id: str) -> str:
        return f'{self.components};created={created};keyid="{key_id}";alg="ed25519"'

    def base(self, *, digest: str, params: str) -> bytes:
        return self.head + digest.encode("ascii") + self.tail + params.encode("ascii")


class _NoPrivateKeys(HTTPSignatureKeyResolver):
    def resolve_public_key(self, key_id: str) -> None:
        return None

    def resolve_private_key(self, key_id: str) -> None:
        raise NotImplementedError("templates are prepared, never signed")


_TEMPLATE_SIGNER = HTTPMessageSigner(
    signature_algorithm=algorithms.ED25519, key_resolver=_NoPrivateKeys()
)
_templates: dict[tuple[str, str], _BaseTemplate | None] = {}
_MAX_TEMPLATES = 1024


def _prepare_template(method: str, path: str) -> _BaseTemplate | None:
    message = _Draft(method=method, url=_PLACEHOLDER_ORIGIN + path)
    try:
        prepared = _TEMPLATE_SIGNER.prepare(
            message,
            key_id=_PLACEHOLDER_KEY_ID,
            created=datetime.fromtimestamp(_PLACEHOLDER_CREATED, tz=UTC),
            label=SIGNATURE_LABEL,
            covered_component_ids=REQUIRED_COMPONENTS,
            body=b"",
        )
    except HTTPMessageSignaturesException:
        return None
    params = prepared.signature_params
    components = params.partition(";created=")[0]
    template = _BaseTemplate(head=b"", tail=b"", components=components)
    if template.params(created=_PLACEHOLDER_CREATED, key_id=_PLACEHOLDER_KEY_ID) != params:
        return None
    digest_line = _DIGEST_LINE + message.headers["Content-Digest"]
    base = prepared.signature_base.decode("ascii")
    if base.count(digest_line) != 1 or not base.endswith(params):
        return None
    head, _, rest = base[: -len(params)].partition(digest_line)
    return _BaseTemplate(
        head=(head + _DIGEST_LINE).encode("ascii"),
        tail=rest.encode("ascii"),
        components=components,
    )


def _template_for(method: str, path: str) -> _BaseTemplate | None:
    key = (method, path)
    if key not in _templates:
        if len(_templates) >= _MAX_TEMPLATES:
            _templates.clear()
        _templates[key] = _prepare_template(method, path)
    return _templates[key]


def _templated_base(
    *, method: str, path: str, lines: _HeaderLines, parsed: _SignatureInput, created: datetime
) -> bytes | None:
    """The signature base from the package's template, or None if the request is not in
    the templated layout (then the package's verifier decides)."""
    key_id = parsed.params.get("keyid")
    if not isinstance(key_id, str) or not _is_canonical_uuid(key_id):
        return None
    if lines.count("signature-input") != 1 or lines.count("content-digest") != 1:
        return None
    template = _template_for(method, path)
    if template is None:
        return None
    params = template.params(created=int(created.timestamp()), key_id=key_id)
    if lines.get("signature-input") != f"{parsed.label}={params}":
        return None
    digest = lines.get("content-digest")
    assert digest is not None  # checked by check_content_digest before
    return template.base(digest=digest, params=params)


def _is_canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _header_lines(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    items = headers.items()
    return [(str(name), str(value)) for name, value in items]


# The layout devices send, as the package's signer writes it. A field that matches
# reads to exactly what the Structured Fields parser would give; any other spelling
# of the same fields goes through that parser.
_B64 = r"[A-Za-z0-9+/]*={0,2}"
_DEVICE_INPUT = re.compile(
    r'(?P<label>[a-z][a-z0-9_.-]*)=\("@method" "@path" "content-digest"\)'
    r';created=(?P<created>[1-9][0-9]{0,14});keyid="(?P<keyid>[0-9a-f-]{36})";alg="ed25519"'
)
_DEVICE_SIGNATURE = re.compile(rf"(?P<label>[a-z][a-z0-9_.-]*)=:(?P<signature>{_B64}):")
_DEVICE_DIGEST = re.compile(rf"sha-256=:(?P<digest>{_B64}):")


def _device_signature_input(raw_input: str, raw_signature: str) -> _SignatureInput | None:
    fields = _DEVICE_INPUT.fullmatch(raw_input)
    signature = _DEVICE_SIGNATURE.fullmatch(raw_signature)
    if fields is None or signature is None or fields["label"] != signature["label"]:
        return None
    try:
        signature_bytes = base64.b64decode(signature["signature"], validate=True)
    except binascii.Error:
        return None
    return _SignatureInput(
        label=fields["label"],
        components=REQUIRED_COMPONENTS,
        params={"created": int(fields["created"]), "keyid": fields["keyid"], "alg": "ed25519"},
        signature=signature_bytes,
    )


def _parse_signature_input(headers: _HeaderLines) -> _SignatureInput:
    raw_input = headers.get("signature-input")
    raw_signature = headers.get("signature")
    if not raw_input or not raw_signature:
        raise SignatureRejected(RejectionReason.missing_signature)
    device_layout = _device_signature_input(raw_input, raw_signature)
    if device_layout is not None:
        return device_layout
    return _structured_signature_input(raw_input, raw_signature)


def _structured_signature_input(raw_input: str, raw_signature: str) -> _SignatureInput:
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
    if (device_layout := _DEVICE_DIGEST.fullmatch(header)) is not None:
        try:
            value = base64.b64decode(device_layout["digest"], validate=True)
        except binascii.Error as exc:
            raise SignatureRejected(RejectionReason.digest_mismatch) from exc
        if not hmac.compare_digest(value, hashlib.sha256(body).digest()):
            raise SignatureRejected(RejectionReason.digest_mismatch)
        return
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


@lru_cache(maxsize=65_536)
def _sodium_key(raw: bytes) -> VerifyKey:
    return VerifyKey(raw)


def _verify_templated(key: Ed25519PublicKey, *, signature: bytes, base: bytes) -> None:
    """Ed25519 by libsodium: about twice OpenSSL's speed here, and the check runs with the
    GIL released, so the event loop carries on while the telemetry writer verifies."""
    try:
        _sodium_key(key.public_bytes_raw()).verify(base, signature)
    except (BadSignatureError, ValueError) as exc:
        raise SignatureRejected(RejectionReason.bad_signature) from exc


def _verify_with_package(
    *,
    method: str,
    path: str,
    lines: _HeaderLines,
    key_id: str,
    key: Ed25519PublicKey,
    now: datetime,
) -> None:
    verifier = _DeviceVerifier(key_resolver=_OneKey(key_id=key_id, key=key), now=now)
    request = _Request(method=method.upper(), url=_PLACEHOLDER_ORIGIN + path, headers=lines)
    try:
        verifier.verify(request, max_age=None, require_components=REQUIRED_COMPONENTS)
    except HTTPMessageSignaturesException as exc:
        raise SignatureRejected(RejectionReason.bad_signature) from exc


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
    base = _templated_base(
        method=method.upper(), path=path, lines=lines, parsed=parsed, created=created
    )
    if base is not None:
        _verify_templated(key, signature=parsed.signature, base=base)
    else:
        _verify_with_package(method=method, path=path, lines=lines, key_id=key_id, key=key, now=now)

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
