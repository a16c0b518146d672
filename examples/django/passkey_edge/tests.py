"""The middleware against tokens this file signs itself.

A stand-in issuer makes P-256 keys with `cryptography`, signs tokens with
PyJWT, and serves its JWKS over real HTTP on 127.0.0.1 (a port the system
picks), so PyJWKClient fetches the keys exactly as it does from
passkey-edge. The end-to-end run (examples/django/e2e.ts) does the same with
tokens from the real Worker.
"""
import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import RequestFactory, SimpleTestCase

from .middleware import PasskeyEdgeJWTMiddleware

ISSUER = "https://auth.example.test"
AUDIENCE = "django-example"
DROP = object()  # a claim the token leaves out


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


class StandInIssuer:
    """passkey-edge's signing side in miniature: keys, a JWKS over HTTP, tokens."""

    def __init__(self):
        self.private_keys = {}
        self.published = []
        self.fetches = 0
        self.status = 200
        self.stalled = None  # an Event the handler waits for before answering
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                issuer.fetches += 1
                if issuer.stalled is not None:
                    issuer.stalled.wait(30)
                body = json.dumps(issuer.jwks()).encode("utf-8")
                try:
                    self.send_response(issuer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.jwks_url = f"http://127.0.0.1:{self.server.server_port}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def new_key(self, publish=True) -> str:
        kid = uuid.uuid4().hex
        self.private_keys[kid] = ec.generate_private_key(ec.SECP256R1())
        if publish:
            self.published.append(kid)
        return kid

    def public_key(self, kid):
        return self.private_keys[kid].public_key()

    def jwks(self):
        keys = []
        for kid in self.published:
            numbers = self.public_key(kid).public_numbers()
            keys.append(
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64url(numbers.x.to_bytes(32, "big")),
                    "y": b64url(numbers.y.to_bytes(32, "big")),
                    "kid": kid,
                    "alg": "ES256",
                    "use": "sig",
                }
            )
        return {"keys": keys}

    @staticmethod
    def claims(**overrides):
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-ada",
            "sid": "session-1",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "auth_time": now - 5,
            "amr": ["pwd", "hwk", "mfa"],
            "acr": "aal2",
            "email": "ada@example.com",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def sign(self, kid, signing_key=None, **overrides) -> str:
        key = signing_key or self.private_keys[kid]
        return jwt.encode(self.claims(**overrides), key, algorithm="ES256", headers={"kid": kid})


class IssuerTestCase(SimpleTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.issuer = StandInIssuer()

    @classmethod
    def tearDownClass(cls):
        cls.issuer.stop()
        super().tearDownClass()

    def setUp(self):
        self.issuer.published = []
        self.issuer.status = 200
        self.issuer.fetches = 0
        self.issuer.stalled = None
        self.kid = self.issuer.new_key()
        self.use_settings(PASSKEY_EDGE_JWKS_URL=self.issuer.jwks_url)

    def use_settings(self, **overrides):
        values = {
            "PASSKEY_EDGE_ISSUER": ISSUER,
            "PASSKEY_EDGE_AUDIENCE": AUDIENCE,
            "PASSKEY_EDGE_JWKS_URL": self.issuer.jwks_url,
            "PASSKEY_EDGE_JWKS_REFRESH_INTERVAL": 30,
        }
        values.update(overrides)
        override = self.settings(**values)
        override.enable()
        self.addCleanup(override.disable)

    def get(self, path, token):
        return self.client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")

    def assertRefused(self, response):
        self.assertEqual(response.status_code, 401, response.content)
        self.assertEqual(response.json()["code"], "invalid_token")
        self.assertEqual(response["WWW-Authenticate"], 'Bearer error="invalid_token"')


class AcceptedTokens(IssuerTestCase):
    def test_a_valid_token_reaches_the_view_as_request_passkey_user(self):
        response = self.get("/api/me", self.issuer.sign(self.kid))
        self.assertEqual(response.status_code, 200, response.content)
        user = response.json()["user"]
        self.assertEqual(user["sub"], "user-ada")
        self.assertEqual(user["email"], "ada@example.com")
        self.assertEqual(user["amr"], ["pwd", "hwk", "mfa"])
        self.assertEqual(user["acr"], "aal2")
        self.assertEqual(user["sid"], "session-1")
        self.assertIsInstance(user["auth_time"], int)

    def test_an_aal2_token_opens_the_aal2_view(self):
        response = self.get("/api/sensitive", self.issuer.sign(self.kid))
        self.assertEqual(response.status_code, 200, response.content)

    def test_an_aal1_token_is_refused_on_the_aal2_view_with_a_step_up_challenge(self):
        token = self.issuer.sign(self.kid, amr=["pwd"], acr="aal1")
        response = self.get("/api/sensitive", token)
        self.assertEqual(response.status_code, 403, response.content)
        self.assertEqual(response.json()["code"], "insufficient_user_authentication")
        self.assertIn('error="insufficient_user_authentication"', response["WWW-Authenticate"])
        self.assertIn('acr_values="aal2"', response["WWW-Authenticate"])
        # The same token is good for what needs no second factor.
        self.assertEqual(self.get("/api/me", token).status_code, 200)

    def test_a_request_without_a_token_is_anonymous_and_the_views_ask_for_one(self):
        seen = []
        middleware = PasskeyEdgeJWTMiddleware(lambda request: seen.append(request.passkey_user) or HttpResponse())
        middleware(RequestFactory().get("/anything"))
        self.assertEqual(seen, [None])
        for path in ("/api/me", "/api/sensitive"):
            response = self.client.get(path)
            self.assertEqual(response.status_code, 401)
            self.assertEqual(response.json()["code"], "not_authenticated")
            self.assertEqual(response["WWW-Authenticate"], "Bearer")
        self.assertEqual(self.client.get("/api/health").status_code, 200)

    def test_the_keys_are_fetched_once_for_many_requests(self):
        for _ in range(5):
            self.assertEqual(self.get("/api/me", self.issuer.sign(self.kid)).status_code, 200)
        self.assertEqual(self.issuer.fetches, 1)

    def test_a_key_the_issuer_starts_publishing_is_picked_up(self):
        self.use_settings(PASSKEY_EDGE_JWKS_REFRESH_INTERVAL=0)
        self.assertEqual(self.get("/api/me", self.issuer.sign(self.kid)).status_code, 200)
        rotated = self.issuer.new_key()
        self.assertEqual(self.get("/api/me", self.issuer.sign(rotated)).status_code, 200)
        self.assertEqual(self.issuer.fetches, 2)


class RefusedTokens(IssuerTestCase):
    def test_a_token_from_another_issuer(self):
        self.assertRefused(self.get("/api/me", self.issuer.sign(self.kid, iss="https://evil.example")))

    def test_a_token_for_another_audience(self):
        self.assertRefused(self.get("/api/me", self.issuer.sign(self.kid, aud="another-backend")))
        self.assertRefused(self.get("/api/me", self.issuer.sign(self.kid, aud=["another-backend"])))

    def test_an_expired_token(self):
        now = int(time.time())
        token = self.issuer.sign(self.kid, iat=now - 600, nbf=now - 600, exp=now - 60)
        self.assertRefused(self.get("/api/me", token))

    def test_a_token_not_yet_valid(self):
        now = int(time.time())
        self.assertRefused(self.get("/api/me", self.issuer.sign(self.kid, nbf=now + 120, exp=now + 600)))
        self.assertRefused(self.get("/api/me", self.issuer.sign(self.kid, iat=now + 120, exp=now + 600)))

    def test_a_token_with_alg_none(self):
        for alg in ("none", "None", "NONE"):
            with self.subTest(alg=alg):
                header = b64url_json({"alg": alg, "typ": "JWT", "kid": self.kid})
                token = f"{header}.{b64url_json(self.issuer.claims())}."
                self.assertRefused(self.get("/api/me", token))

    def test_a_token_signed_with_hs256_using_the_public_key_as_the_secret(self):
        # The key-confusion attack: the public key is public, so a verifier
        # that lets the header pick HMAC checks the attacker's MAC with it.
        public_key = self.issuer.public_key(self.kid)
        secrets = {
            "PEM": public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
            "DER": public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
            "point": public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
            "JWKS": json.dumps(self.issuer.jwks()).encode("utf-8"),
        }
        for name, secret in secrets.items():
            with self.subTest(secret=name):
                signing_input = f"{b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': self.kid})}.{b64url_json(self.issuer.claims())}"
                mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
                self.assertRefused(self.get("/api/me", f"{signing_input}.{b64url(mac)}"))

    def test_a_token_naming_a_key_the_issuer_does_not_publish(self):
        unpublished = self.issuer.new_key(publish=False)
        self.assertRefused(self.get("/api/me", self.issuer.sign(unpublished)))

    def test_a_token_signed_by_another_key_under_the_issuers_kid(self):
        forger = ec.generate_private_key(ec.SECP256R1())
        self.assertRefused(self.get("/api/me", self.issuer.sign(self.kid, signing_key=forger)))

    def test_a_token_whose_payload_was_changed_after_signing(self):
        header, _, signature = self.issuer.sign(self.kid, amr=["pwd"], acr="aal1").split(".")
        forged_payload = b64url_json(self.issuer.claims(amr=["pwd", "hwk", "mfa"], acr="aal2"))
        token = f"{header}.{forged_payload}.{signature}"
        self.assertRefused(self.get("/api/sensitive", token))

    def test_a_token_missing_a_required_claim(self):
        for claim in ("exp", "iat", "nbf", "iss", "aud", "sub", "amr", "acr"):
            with self.subTest(claim=claim):
                self.assertRefused(self.get("/api/me", self.issuer.sign(self.kid, **{claim: DROP})))

    def test_a_token_whose_claims_have_the_wrong_types(self):
        for claim, value in (("amr", "pwd hwk mfa"), ("amr", [1]), ("acr", 2), ("sub", 7), ("auth_time", "now")):
            with self.subTest(claim=claim, value=value):
                self.assertRefused(self.get("/api/me", self.issuer.sign(self.kid, **{claim: value})))

    def test_an_authorization_header_that_is_not_a_bearer_jwt(self):
        valid = self.issuer.sign(self.kid)
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer not-a-jwt", "Bearer a.b.c", f"Token {valid}"):
            with self.subTest(header=header):
                self.assertRefused(self.client.get("/api/me", HTTP_AUTHORIZATION=header))
        self.assertRefused(self.get("/api/me", valid + "A" * 5000))

    def test_unknown_kids_refetch_the_keys_at_most_once_per_interval(self):
        # Otherwise each forged token would cost a request to the issuer.
        for _ in range(10):
            self.assertRefused(self.get("/api/me", self.issuer.sign(self.issuer.new_key(publish=False))))
        self.assertEqual(self.issuer.fetches, 1)


class UnavailableKeys(IssuerTestCase):
    def assertUnavailable(self, response):
        self.assertEqual(response.status_code, 503, response.content)
        self.assertEqual(response.json()["code"], "token_verification_unavailable")

    def test_an_unreachable_jwks_is_503_not_a_verdict_on_the_token(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        self.use_settings(PASSKEY_EDGE_JWKS_URL=f"http://127.0.0.1:{closed_port}/.well-known/jwks.json")
        self.assertUnavailable(self.get("/api/me", self.issuer.sign(self.kid)))

    def test_a_stalled_jwks_is_503_after_the_timeout(self):
        # PyJWT 2.6's own client has no timeout: each request would hang.
        self.issuer.stalled = threading.Event()
        self.addCleanup(self.issuer.stalled.set)
        self.use_settings(PASSKEY_EDGE_JWKS_TIMEOUT_SECONDS=0.5)
        started = time.monotonic()
        self.assertUnavailable(self.get("/api/me", self.issuer.sign(self.kid)))
        self.assertLess(time.monotonic() - started, 10)

    def test_a_jwks_answering_an_error_is_503(self):
        self.issuer.status = 500
        self.assertUnavailable(self.get("/api/me", self.issuer.sign(self.kid)))

    def test_a_jwks_with_no_usable_key_is_503(self):
        self.issuer.published = []
        self.assertUnavailable(self.get("/api/me", self.issuer.sign(self.kid)))


class Configuration(SimpleTestCase):
    def build(self, **settings):
        values = {
            "PASSKEY_EDGE_ISSUER": ISSUER,
            "PASSKEY_EDGE_AUDIENCE": AUDIENCE,
            "PASSKEY_EDGE_JWKS_URL": "https://auth.example.test/.well-known/jwks.json",
        }
        values.update(settings)
        with self.settings(**values):
            return PasskeyEdgeJWTMiddleware(lambda request: HttpResponse())

    def test_the_issuer_the_audience_and_the_jwks_url_are_required(self):
        # PyJWT skips the issuer or audience check when it is given none.
        for name in ("PASSKEY_EDGE_ISSUER", "PASSKEY_EDGE_AUDIENCE", "PASSKEY_EDGE_JWKS_URL"):
            with self.subTest(setting=name), self.assertRaises(ImproperlyConfigured):
                self.build(**{name: None})

    def test_the_jwks_url_is_https_except_on_this_machine(self):
        with self.assertRaises(ImproperlyConfigured):
            self.build(PASSKEY_EDGE_JWKS_URL="http://auth.example.test/.well-known/jwks.json")
        self.build(PASSKEY_EDGE_JWKS_URL="http://localhost:8787/.well-known/jwks.json")
