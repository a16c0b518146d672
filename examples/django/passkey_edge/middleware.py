"""Trusts passkey-edge's access tokens: `Authorization: Bearer <jwt>`.

The token is an ES256 JWT that passkey-edge signs (`POST /api/auth/token/`);
its public keys are at the issuer's `jwks_uri`. This middleware checks the
signature against those keys, then the issuer, the audience and the times,
and sets `request.passkey_user`: a `PasskeyUser`, or None when the request
carries no token at all. A token that is present but does not verify is
answered 401 here, before any view runs: a view never sees a user that the
issuer did not vouch for.

Settings (or environment variables of the same names):
  PASSKEY_EDGE_ISSUER       passkey-edge's TOKEN_ISSUER (the `issuer` of its
                            /.well-known/openid-configuration)
  PASSKEY_EDGE_AUDIENCE     this backend's name, one of its TOKEN_AUDIENCES
  PASSKEY_EDGE_JWKS_URL     the `jwks_uri` of that document
  PASSKEY_EDGE_LEEWAY_SECONDS            clock skew allowed (default 30)
  PASSKEY_EDGE_JWKS_REFRESH_INTERVAL     fewest seconds between two fetches
                                         caused by an unknown `kid` (default 30)
  PASSKEY_EDGE_JWKS_TIMEOUT_SECONDS      for one fetch of the keys (default 5)
"""
import json
import logging
import os
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse

from .responses import error_response

logger = logging.getLogger("passkey_edge")

# The one algorithm passkey-edge signs with, fixed here and never taken from
# the token's header: a verifier that lets the header choose accepts
# `alg: none` (no signature at all), or HS256 with the public key - which
# anyone can download - used as the HMAC secret.
ALGORITHMS = ["ES256"]
# PyJWT only checks the claims that are present; these must be.
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub"]
# A JWT of passkey-edge is well under 1 KiB: a longer header is not one of
# them, and is refused before any parsing.
MAX_TOKEN_LENGTH = 4096
JWKS_CACHE_SECONDS = 300  # the Cache-Control max-age of passkey-edge's JWKS


@dataclass(frozen=True)
class PasskeyUser:
    """Who signed in, and how (from a verified token; nothing else)."""

    sub: str
    email: Optional[str]
    amr: Tuple[str, ...]
    acr: str
    auth_time: Optional[int]
    sid: Optional[str]
    claims: Dict[str, Any] = field(repr=False, compare=False)

    is_authenticated = True

    @property
    def is_aal2(self) -> bool:
        # acr is the issuer's own statement of the assurance level, signed
        # with the rest: a second factor was verified in this session.
        return self.acr == "aal2"


class JWKSUnavailable(jwt.PyJWKClientError):
    """The issuer's keys could not be had: no verdict on the token either way."""


class UnknownSigningKey(jwt.PyJWKClientError):
    """The token names a key (`kid`) that the issuer does not publish."""


class BoundedJWKSClient(jwt.PyJWKClient):
    """PyJWT's JWKS client with a timeout and a bounded refresh.

    PyJWT 2.6's client fetches with no timeout (a stalled issuer would hold a
    worker per request forever) and fetches the JWKS again for every token
    whose `kid` it does not know, which lets anyone make this backend call
    the issuer once per forged request. Here an unknown `kid` refetches at
    most once per `refresh_interval` seconds; a rotation (a new key the issuer
    publishes) is still picked up.
    """

    def __init__(self, uri: str, refresh_interval: float, timeout: float):
        super().__init__(uri, cache_keys=False, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS)
        self.refresh_interval = refresh_interval
        self.timeout = timeout
        self._lock = threading.Lock()
        self._last_fetch: Optional[float] = None

    def fetch_data(self) -> Any:
        with self._lock:
            self._last_fetch = time.monotonic()
        request = urllib.request.Request(self.uri, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = json.load(response)
        except (OSError, ValueError) as error:  # unreachable, timed out, HTTP error, not JSON
            raise JWKSUnavailable(f"cannot fetch {self.uri}: {error}") from error
        if not isinstance(data, dict):
            raise JWKSUnavailable(f"{self.uri} is not a JWK set")
        # Unlike the base class, a failed fetch keeps the keys already cached.
        self.jwk_set_cache.put(data)
        return data

    def get_signing_key(self, kid: str) -> jwt.PyJWK:
        key = self.match_kid(self._signing_keys(refresh=False), kid)
        if key is None and self._may_refresh():
            key = self.match_kid(self._signing_keys(refresh=True), kid)
        if key is None:
            raise UnknownSigningKey("the token's kid is not in the issuer's JWKS")
        return key

    def _signing_keys(self, refresh: bool):
        try:
            return self.get_signing_keys(refresh)
        except JWKSUnavailable:
            raise
        except (jwt.PyJWTError, AttributeError, TypeError) as error:  # a JWKS that is not one
            raise JWKSUnavailable(f"unusable JWKS at {self.uri}: {error}") from error

    def _may_refresh(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._last_fetch is not None and now - self._last_fetch < self.refresh_interval:
                return False
            # Claimed under the lock: of concurrent requests with unknown
            # kids, one refetches and the others answer from the cache.
            self._last_fetch = now
            return True


def _setting(name: str, default: Any = None) -> Any:
    value = getattr(settings, name, None)
    if value is None or value == "":
        value = os.environ.get(name) or default
    return value


def _require_setting(name: str) -> str:
    value = _setting(name)
    if not value:
        # No issuer or audience would make PyJWT skip that check altogether.
        raise ImproperlyConfigured(f"{name} must be set for PasskeyEdgeJWTMiddleware")
    return str(value)


def _check_jwks_url(url: str) -> None:
    parts = urlsplit(url)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    # Whoever can change the keys in transit can sign any token: plain HTTP
    # only for a development issuer on this machine.
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ImproperlyConfigured("PASSKEY_EDGE_JWKS_URL must be https (http only for localhost)")


def invalid_token() -> JsonResponse:
    return error_response(
        401,
        "invalid_token",
        "The access token is malformed, expired or not meant for this service.",
        'Bearer error="invalid_token"',
    )


def _user_from_claims(claims: Dict[str, Any]) -> PasskeyUser:
    sub, email, amr, acr = claims.get("sub"), claims.get("email"), claims.get("amr"), claims.get("acr")
    auth_time, sid = claims.get("auth_time"), claims.get("sid")
    # Signed by the issuer, but a view must be able to trust the types too.
    if not isinstance(sub, str) or not sub:
        raise jwt.InvalidTokenError("sub is not a string")
    if not isinstance(amr, list) or not all(isinstance(method, str) for method in amr):
        raise jwt.InvalidTokenError("amr is not a list of strings")
    if not isinstance(acr, str):
        raise jwt.InvalidTokenError("acr is not a string")
    if email is not None and not isinstance(email, str):
        raise jwt.InvalidTokenError("email is not a string")
    if auth_time is not None and (isinstance(auth_time, bool) or not isinstance(auth_time, int)):
        raise jwt.InvalidTokenError("auth_time is not a number")
    if sid is not None and not isinstance(sid, str):
        raise jwt.InvalidTokenError("sid is not a string")
    return PasskeyUser(sub=sub, email=email, amr=tuple(amr), acr=acr, auth_time=auth_time, sid=sid, claims=claims)


class PasskeyEdgeJWTMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.issuer = _require_setting("PASSKEY_EDGE_ISSUER")
        self.audience = _require_setting("PASSKEY_EDGE_AUDIENCE")
        jwks_url = _require_setting("PASSKEY_EDGE_JWKS_URL")
        _check_jwks_url(jwks_url)
        self.leeway = float(_setting("PASSKEY_EDGE_LEEWAY_SECONDS", 30))
        # One client per process: its cache of the keys is shared by all requests.
        self.jwks = BoundedJWKSClient(
            jwks_url,
            refresh_interval=float(_setting("PASSKEY_EDGE_JWKS_REFRESH_INTERVAL", 30)),
            timeout=float(_setting("PASSKEY_EDGE_JWKS_TIMEOUT_SECONDS", 5)),
        )

    def __call__(self, request):
        request.passkey_user = None
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return self.get_response(request)  # anonymous: the view decides
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
            return invalid_token()
        try:
            request.passkey_user = self.verify(token)
        except JWKSUnavailable as error:
            logger.error("passkey-edge JWKS unavailable: %s", error)
            return error_response(
                503,
                "token_verification_unavailable",
                "The access token cannot be checked right now. Try again shortly.",
                "Bearer",
            )
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            # The reason goes to the log, never to the client, and the token never to either.
            logger.info("refused an access token: %s", type(error).__name__)
            return invalid_token()
        return self.get_response(request)

    def verify(self, token: str) -> PasskeyUser:
        signing_key = self.jwks.get_signing_key_from_jwt(token)
        public_key = signing_key.key
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
            raise jwt.InvalidKeyError("the issuer's key is not a P-256 key")
        claims = jwt.decode(
            token,
            public_key,
            algorithms=ALGORITHMS,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
            options={"require": REQUIRED_CLAIMS},
        )
        return _user_from_claims(claims)
