"""Optional OpenID Connect sign-in for agencies that run an identity provider (off by default).

The flow is the authorisation code flow with PKCE (S256), a ``state`` and a
``nonce``. Those three values never sit in process memory: they travel in a
short-lived cookie sealed (AES-GCM) with a key derived from the master key, so
any worker can finish a sign-in another started. The ID token is validated by
authlib (signature against the issuer's JWKS, ``iss``, ``aud``, ``exp``,
``nonce``); its username claim must name an existing, active OpenEM account:
accounts are never created here. A role that needs TOTP still enters its code
unless ``OPENEM_OIDC_TRUST_MFA`` is on and the token's ``amr`` says the
provider did multi-factor authentication (``mfa`` or ``otp``).
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.errors import JoseError
from sqlalchemy.orm import Session

from openem.access import audit, totp
from openem.access.login import (
    LoggedIn,
    LoginRules,
    complete_login,
    locked,
    refuse_attempt,
    refuse_locked,
)
from openem.access.models import User
from openem.access.policy import needs_mfa
from openem.access.service import find_user_by_username
from openem.config import Settings
from openem.crypto.envelope import KeyFileError, KeyRing, load_keyring
from openem.errors import DomainError, Forbidden, NotFound, Unauthorised
from openem.logs import get_logger

log = get_logger(__name__)

COOKIE_PATH = "/api/v1/auth/oidc"
FLOW_TTL = timedelta(minutes=10)
TOTP_TTL = timedelta(minutes=5)
MFA_METHODS = frozenset({"mfa", "otp"})
SCOPE = "openid profile"
ACTION = "session.login.oidc"
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


class OidcDisabled(NotFound):
    def __init__(self) -> None:
        super().__init__("OpenID Connect sign-in is not enabled")


class OidcRefused(Unauthorised):
    def __init__(self) -> None:
        super().__init__(
            "sign-in refused: the identity provider's answer could not be verified; start again"
        )


class NoAccount(Forbidden):
    def __init__(self) -> None:
        super().__init__("sign-in refused: no active OpenEM account matches this identity")


class ProviderUnavailable(DomainError):
    status = 502
    title = "Bad gateway"

    def __init__(self) -> None:
        super().__init__("the identity provider could not be reached; try again later")


class OidcMisconfigured(DomainError):
    status = 503
    title = "Service unavailable"

    def __init__(self) -> None:
        super().__init__("OpenID Connect sign-in needs the master key file (OPENEM_KEY_FILE)")


def cookie_name(kind: str, *, secure: bool) -> str:
    """``flow`` (state, nonce, PKCE verifier) or ``totp`` (verified, TOTP still due)."""
    return f"__Secure-openem_oidc_{kind}" if secure else f"openem_oidc_{kind}"


# --- sealed cookies -------------------------------------------------------------------------


def _cookie_key(settings: Settings) -> bytes:
    try:
        keyring = load_keyring(settings.key_file)
    except KeyFileError as error:
        raise OidcMisconfigured() from error
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"openem oidc cookie v1"
    ).derive(keyring.master_key(keyring.primary))


def seal(settings: Settings, *, kind: str, data: dict[str, str], now: datetime) -> str:
    ttl = FLOW_TTL if kind == "flow" else TOTP_TTL
    body = json.dumps({**data, "exp": int((now + ttl).timestamp())}).encode()
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_cookie_key(settings)).encrypt(nonce, body, kind.encode())
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(
    settings: Settings, *, kind: str, value: str | None, now: datetime
) -> dict[str, Any] | None:
    """The cookie's data, or None when it is missing, forged, of the other kind or expired."""
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        body = AESGCM(_cookie_key(settings)).decrypt(raw[:12], raw[12:], kind.encode())
        data = json.loads(body)
    except (ValueError, InvalidTag):
        return None
    if not isinstance(data, dict) or int(data.get("exp", 0)) <= now.timestamp():
        return None
    return data


# --- the identity provider ------------------------------------------------------------------


def client_for(state: Any, settings: Settings) -> StarletteOAuth2App:
    """One authlib client per application (discovery and JWKS are cached on it).

    ``state.oidc_transport`` (an httpx2 transport), when set, carries every request to the
    provider: tests point it at an in-process fake.
    """
    client: StarletteOAuth2App | None = getattr(state, "oidc_client", None)
    if client is not None:
        return client
    secret = settings.oidc_client_secret.get_secret_value()
    client_kwargs: dict[str, Any] = {
        "scope": SCOPE,
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": "client_secret_basic" if secret else "none",
        "timeout": 10.0,
    }
    transport = getattr(state, "oidc_transport", None)
    if transport is not None:
        client_kwargs["transport"] = transport
    oauth = OAuth()
    registered = oauth.register(
        "idp",
        client_id=settings.oidc_client_id,
        client_secret=secret or None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs=client_kwargs,
    )
    assert isinstance(registered, StarletteOAuth2App)
    state.oidc_client = registered
    return registered


async def _metadata(client: StarletteOAuth2App, settings: Settings) -> dict[str, Any]:
    try:
        metadata: dict[str, Any] = await client.load_server_metadata()
    except (httpx2.HTTPError, ValueError) as error:
        log.warning("oidc.discovery_failed", error=type(error).__name__)
        raise ProviderUnavailable() from error
    if metadata.get("issuer") != settings.oidc_issuer:
        # OpenID Connect Discovery 1.0, section 4.3: the issuer must be the one configured.
        log.warning("oidc.issuer_mismatch")
        raise ProviderUnavailable()
    # ID tokens are verified with the provider's public keys only: never "none", nor a
    # symmetric algorithm keyed by the client secret, whatever the provider advertises.
    advertised = metadata.get("id_token_signing_alg_values_supported") or []
    metadata["id_token_signing_alg_values_supported"] = [
        alg for alg in advertised if alg in ALGORITHMS
    ] or ["RS256"]
    return metadata


@dataclass(frozen=True)
class Redirect:
    url: str
    flow: dict[str, str]


async def start(client: StarletteOAuth2App, settings: Settings) -> Redirect:
    """The provider's authorisation URL, with a fresh state, nonce and PKCE challenge."""
    await _metadata(client, settings)
    try:
        made = await client.create_authorization_url(settings.oidc_redirect_url)
    except (httpx2.HTTPError, AuthlibBaseError, RuntimeError) as error:
        raise ProviderUnavailable() from error
    flow = {"state": made["state"], "nonce": made["nonce"], "verifier": made["code_verifier"]}
    return Redirect(url=made["url"], flow=flow)


@dataclass(frozen=True)
class Identity:
    """What a validated ID token says: the username claim and the authentication methods."""

    username: str
    amr: frozenset[str]


def _refused(reason: str) -> OidcRefused:
    log.warning("oidc.refused", reason=reason)  # a reason code only, never claims
    return OidcRefused()


async def finish(
    client: StarletteOAuth2App,
    settings: Settings,
    *,
    flow: dict[str, Any] | None,
    code: str | None,
    state: str | None,
    error: str | None,
) -> Identity:
    """Check the callback against the sealed flow, exchange the code, validate the ID token."""
    if flow is None:
        raise _refused("no_flow")
    if error:
        raise _refused("provider_error")
    if not code or not state or not hmac.compare_digest(state, str(flow.get("state", ""))):
        raise _refused("state")
    await _metadata(client, settings)
    try:
        token = await client.fetch_access_token(
            redirect_uri=settings.oidc_redirect_url, code=code, code_verifier=flow["verifier"]
        )
    except AuthlibBaseError as failure:
        raise _refused("token_exchange") from failure
    except httpx2.HTTPError as failure:
        raise ProviderUnavailable() from failure
    if not isinstance(token, dict) or "id_token" not in token:
        raise _refused("no_id_token")
    options = {
        "iss": {"essential": True, "value": settings.oidc_issuer},
        "aud": {"essential": True, "value": settings.oidc_client_id},
        "exp": {"essential": True},
    }
    try:
        claims = await client.parse_id_token(
            token, nonce=flow["nonce"], claims_options=options, leeway=60
        )
    except (JoseError, ValueError) as failure:
        raise _refused(f"id_token.{type(failure).__name__}") from failure
    except httpx2.HTTPError as failure:
        raise ProviderUnavailable() from failure
    if claims is None or claims.get("nonce") != flow["nonce"]:
        raise _refused("nonce")
    username = claims.get(settings.oidc_username_claim)
    if not isinstance(username, str) or not username:
        raise _refused("username_claim")
    amr = claims.get("amr")
    methods = frozenset(m for m in amr if isinstance(m, str)) if isinstance(amr, list) else None
    return Identity(username=username, amr=methods or frozenset())


# --- opening the session --------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """Either a session (``logged_in``) or, for a role whose TOTP is still due, the user id."""

    logged_in: LoggedIn | None = None
    totp_due_for: uuid.UUID | None = None


def idp_mfa_accepted(identity: Identity, *, trust_mfa: bool) -> bool:
    return trust_mfa and bool(identity.amr & MFA_METHODS)


def _usable(session: Session, user: User | None, *, now: datetime, source: str | None) -> User:
    if user is None or not user.active:
        audit.refuse(session, principal=None, action=ACTION, record_type="user", source=source)
        raise NoAccount()
    if locked(user, now=now):
        raise refuse_locked(session, user=user, source=source)
    return user


def sign_in(
    session: Session,
    *,
    identity: Identity,
    trust_mfa: bool,
    now: datetime,
    source: str | None,
    rules: LoginRules,
) -> SignedIn:
    """Map the verified identity to its OpenEM account and open the same session as a password
    login would; a role that needs TOTP, enrolled, without accepted provider MFA: TOTP due."""
    user = _usable(
        session, find_user_by_username(session, username=identity.username), now=now, source=source
    )
    if idp_mfa_accepted(identity, trust_mfa=trust_mfa):
        mfa_done = True
    elif needs_mfa(user.role) and totp.enrolled(user):
        return SignedIn(totp_due_for=user.id)
    else:
        # Roles without mandatory TOTP are done; a mandatory-TOTP user who has not set it up
        # yet gets the same set-up-only session as at a first password login.
        mfa_done = not needs_mfa(user.role)
    logged_in = complete_login(
        session, user=user, mfa_done=mfa_done, now=now, source=source, rules=rules, action=ACTION
    )
    return SignedIn(logged_in=logged_in)


def complete_totp(
    session: Session,
    *,
    user_id: uuid.UUID,
    code: str,
    now: datetime,
    source: str | None,
    rules: LoginRules,
    keyring: KeyRing,
) -> LoggedIn:
    """The second step after the provider: the TOTP code, counted like a password login's."""
    user = _usable(session, session.get(User, user_id), now=now, source=source)
    if not totp.check_code(user, code, now=now, keyring=keyring):
        raise refuse_attempt(session, user=user, now=now, rules=rules, source=source)
    return complete_login(
        session, user=user, mfa_done=True, now=now, source=source, rules=rules, action=ACTION
    )
