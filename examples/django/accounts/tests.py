"""The app's sign-in views and the server API client, against stand-ins.

A stand-in passkey-edge server API (real HTTP on 127.0.0.1, a port the
system picks) keeps users, second factors and sessions in memory the way
the contract describes them and records every request, so the tests see
exactly what this backend sends: the server key, the paths, the bodies.
Access tokens come from the stand-in issuer of passkey_edge/tests.py. The
end-to-end run (examples/django/e2e.ts) does the same against the Worker.
"""
import json
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, TestCase

from passkey_edge.models import PasskeyEdgeAccount, UsedAccessToken
from passkey_edge.server import PasskeyEdgeError, PasskeyEdgeServer, PasskeyEdgeUnavailable
from passkey_edge.tests import AUDIENCE, DROP, ISSUER, StandInIssuer

SERVER_KEY = "k" * 43  # the key part of a `django:<key>` pair of SERVER_API_KEYS
PASSWORD = "correct horse battery staple"
USER_PREFIX = "/api/server/users/"


class StandInPasskeyEdge:
    """passkey-edge's server API as the contract describes it, in memory."""

    def __init__(self):
        self.users = {}  # external_id -> {"email", "display_name", "second_factor"}
        self.sessions = {}  # token -> external_id
        self.requests = []  # (method, path, headers, body)
        self.fail_with = None  # (status, code): the next server call answers this
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                stand_in.requests.append((method, self.path, dict(self.headers), body))
                status, answer = stand_in.answer(method, self.path, self.headers, body)
                data = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.handle_one("GET")

            def do_PUT(self):
                self.handle_one("PUT")

            def do_POST(self):
                self.handle_one("POST")

            def do_DELETE(self):
                self.handle_one("DELETE")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def reset(self):
        self.users, self.sessions, self.requests, self.fail_with = {}, {}, [], None

    def server_calls(self):
        return [(method, path) for method, path, _, _ in self.requests if path.startswith("/api/server/")]

    @staticmethod
    def error(status, code):
        return status, {"success": False, "code": code, "message": code}

    def answer(self, method, path, headers, body):
        if path == "/api/auth/logout/" and method == "POST":
            token = headers.get("Authorization", "").removeprefix("Bearer ")
            if headers.get("X-Client") != "app" or self.sessions.pop(token, None) is None:
                return self.error(401, "not_authenticated")
            return 200, {"success": True}
        if not path.startswith(USER_PREFIX):
            return self.error(404, "not_found")
        if headers.get("Authorization") != f"Bearer {SERVER_KEY}":
            return self.error(401, "invalid_server_key")
        if self.fail_with is not None:
            failure, self.fail_with = self.fail_with, None
            return self.error(*failure)
        external_id, _, rest = path[len(USER_PREFIX) :].partition("/")
        external_id = unquote(external_id)
        user = self.users.get(external_id)
        if (method, rest) == ("PUT", ""):
            if user is None:
                if not body.get("email"):
                    return self.error(400, "invalid_request")
                if any(other["email"] == body["email"] for other in self.users.values()):
                    return self.error(409, "email_taken")
                self.users[external_id] = {"email": body["email"], "display_name": body.get("display_name"), "second_factor": False}
                return 201, {"success": True, "user": self.describe(external_id)}
            user.update({name: body[name] for name in ("email", "display_name") if name in body})
            return 200, {"success": True, "user": self.describe(external_id)}
        if (method, rest) == ("DELETE", ""):
            self.users.pop(external_id, None)
            self.revoke(external_id)
            return 200, {"success": True}
        if user is None:
            return self.error(404, "not_found")
        if (method, rest) == ("GET", ""):
            factor = user["second_factor"]
            return 200, {
                "success": True,
                "user": self.describe(external_id),
                "passkeys": [{"id": "pk1", "name": "Phone", "passwordless": True}] if factor else [],
                "totp": False,
                "recovery_codes_left": 10 if factor else 0,
                "sessions": sum(1 for owner in self.sessions.values() if owner == external_id),
                "last_sign_in_at": None,
            }
        if (method, rest) == ("POST", "sessions"):
            level = "partial" if body["level"] == "partial" and user["second_factor"] else "full"
            token = secrets.token_urlsafe(16)
            self.sessions[token] = external_id
            methods = ["webauthn", "recovery_codes"] if user["second_factor"] else []
            return 201, {"success": True, "session": {"level": level, "methods": methods}, "session_token": token}
        if (method, rest) == ("DELETE", "sessions"):
            return 200, {"success": True, "revoked": self.revoke(external_id)}
        if (method, rest) == ("POST", "second-factors/reset"):
            user["second_factor"] = False
            return 200, {"success": True, "revoked": self.revoke(external_id)}
        return self.error(404, "not_found")

    def describe(self, external_id):
        user = self.users[external_id]
        return {"id": "u-" + external_id, "external_id": external_id, "email": user["email"], "display_name": user["display_name"]}

    def revoke(self, external_id):
        tokens = [token for token, owner in self.sessions.items() if owner == external_id]
        for token in tokens:
            del self.sessions[token]
        return len(tokens)


class AppTestCase(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.edge = StandInPasskeyEdge()
        cls.issuer = StandInIssuer()

    @classmethod
    def tearDownClass(cls):
        cls.edge.stop()
        cls.issuer.stop()
        super().tearDownClass()

    def setUp(self):
        self.edge.reset()
        self.issuer.published = []
        self.kid = self.issuer.new_key()
        override = self.settings(
            PASSKEY_EDGE_URL=self.edge.url,
            PASSKEY_EDGE_SERVER_KEY=SERVER_KEY,
            PASSKEY_EDGE_ISSUER=ISSUER,
            PASSKEY_EDGE_AUDIENCE=AUDIENCE,
            PASSKEY_EDGE_JWKS_URL=self.issuer.jwks_url,
        )
        override.enable()
        self.addCleanup(override.disable)
        self.ada = get_user_model().objects.create_user("ada", "ada@example.com", PASSWORD)
        # A browser: Django's CSRF check on, as in production.
        self.browser = Client(enforce_csrf_checks=True)
        self.browser.get("/accounts/csrf/")

    def post(self, path, body=None, client=None, **headers):
        # As Django's documentation says a front end does: the header is the
        # csrftoken cookie of the moment (a sign-in rotates it).
        client = client or self.browser
        csrf = client.cookies["csrftoken"].value
        return client.post(path, json.dumps(body or {}), content_type="application/json", HTTP_X_CSRFTOKEN=csrf, **headers)

    def enrol(self, user, second_factor=True):
        account = PasskeyEdgeAccount.objects.create(user=user)
        self.edge.users[account.external_id] = {"email": user.email, "display_name": None, "second_factor": second_factor}
        return account

    def token_for(self, account, **claims):
        claims.setdefault("sub", account.external_id)
        claims.setdefault("sub_type", "external_id")
        return self.issuer.sign(self.kid, **claims)

    def signed_in_as(self):
        response = self.browser.get("/accounts/me/")
        return response.json()["user"]["username"] if response.status_code == 200 else None


class PasswordSignIn(AppTestCase):
    def test_a_user_without_a_second_factor_is_signed_in_by_the_password_alone(self):
        response = self.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["status"], "signed_in")
        self.assertEqual(self.signed_in_as(), "ada")
        self.assertEqual(self.edge.requests, [])  # not enrolled: passkey-edge is not asked

    def test_a_wrong_password_is_refused_before_passkey_edge_is_asked(self):
        self.enrol(self.ada)
        response = self.post("/accounts/login/", {"username": "ada", "password": "wrong password"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(response.json()["code"], "invalid_credentials")
        self.assertEqual(self.edge.requests, [])
        self.assertIsNone(self.signed_in_as())

    def test_an_enrolled_user_gets_a_partial_session_for_the_front_end_and_no_django_session(self):
        account = self.enrol(self.ada)
        response = self.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
        self.assertEqual(response.status_code, 200, response.content)
        answer = response.json()
        self.assertEqual(answer["status"], "second_factor_required")
        self.assertEqual(self.edge.sessions[answer["session_token"]], account.external_id)
        self.assertIn("webauthn", answer["methods"])
        method, path, headers, body = self.edge.requests[0]
        self.assertEqual((method, path), ("POST", f"/api/server/users/{account.external_id}/sessions"))
        self.assertEqual(body, {"level": "partial", "amr": ["pwd"]})
        self.assertEqual(headers["Authorization"], f"Bearer {SERVER_KEY}")
        self.assertIsNone(self.signed_in_as())

    def test_an_enrolled_user_left_with_no_second_factor_is_signed_in_and_the_unused_session_ended(self):
        account = self.enrol(self.ada, second_factor=False)  # e.g. after a help-desk reset
        response = self.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
        self.assertEqual(response.json()["status"], "signed_in", response.content)
        self.assertNotIn("session_token", response.json())
        self.assertEqual(self.signed_in_as(), "ada")
        self.assertEqual(self.edge.sessions, {})  # logged out with its own token
        logout = self.edge.requests[-1]
        self.assertEqual((logout[0], logout[1], logout[2]["X-Client"]), ("POST", "/api/auth/logout/", "app"))
        self.assertNotEqual(logout[2]["Authorization"], f"Bearer {SERVER_KEY}")
        self.assertEqual(self.edge.server_calls(), [("POST", f"/api/server/users/{account.external_id}/sessions")])

    def test_when_passkey_edge_cannot_be_reached_an_enrolled_user_is_not_signed_in(self):
        self.enrol(self.ada)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        with self.settings(PASSKEY_EDGE_URL=f"http://127.0.0.1:{closed}"):
            response = self.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
        self.assertEqual(response.status_code, 503, response.content)
        self.assertEqual(response.json()["code"], "second_factor_unavailable")
        self.assertIsNone(self.signed_in_as())

    def test_the_login_needs_the_csrf_token(self):
        response = self.browser.post(
            "/accounts/login/", json.dumps({"username": "ada", "password": PASSWORD}), content_type="application/json"
        )
        self.assertEqual(response.status_code, 403)
        self.assertIsNone(self.signed_in_as())


class AccessTokenSignIn(AppTestCase):
    def test_an_aal2_token_naming_an_external_id_opens_that_users_django_session(self):
        account = self.enrol(self.ada)
        response = self.post("/accounts/passkey-edge/login/", HTTP_AUTHORIZATION=f"Bearer {self.token_for(account)}")
        self.assertEqual(response.status_code, 200, response.content)
        me = self.browser.get("/accounts/me/").json()["user"]
        self.assertEqual((me["username"], me["external_id"]), ("ada", account.external_id))
        self.assertEqual(me["amr"], ["pwd", "hwk", "mfa"])

    def test_a_passwordless_passkey_token_also_signs_in(self):
        account = self.enrol(self.ada)
        token = self.token_for(account, amr=["hwk", "user"], acr="aal2")
        response = self.post("/accounts/passkey-edge/login/", HTTP_AUTHORIZATION=f"Bearer {token}")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(self.browser.get("/accounts/me/").json()["user"]["amr"], ["hwk", "user"])

    def test_the_same_token_opens_one_session_only(self):
        account = self.enrol(self.ada)
        token = self.token_for(account)
        self.assertEqual(self.post("/accounts/passkey-edge/login/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code, 200)
        other = Client(enforce_csrf_checks=True)
        other.get("/accounts/csrf/")
        replay = self.post("/accounts/passkey-edge/login/", client=other, HTTP_AUTHORIZATION=f"Bearer {token}")
        self.assertEqual(replay.status_code, 401, replay.content)
        self.assertEqual(replay.json()["code"], "token_used")
        self.assertEqual(other.get("/accounts/me/").status_code, 401)
        self.assertEqual(UsedAccessToken.objects.count(), 1)

    def test_an_aal1_token_is_refused(self):
        account = self.enrol(self.ada)
        response = self.post(
            "/accounts/passkey-edge/login/", HTTP_AUTHORIZATION=f"Bearer {self.token_for(account, amr=['pwd'], acr='aal1')}"
        )
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.json()["code"], "insufficient_user_authentication")
        self.assertIsNone(self.signed_in_as())

    def test_a_token_of_a_user_who_is_not_ours_is_refused(self):
        account = self.enrol(self.ada)
        for claims in ({"sub_type": "user_id"}, {"sub_type": DROP}, {"sub": "dj-someone-else"}):
            with self.subTest(claims=claims):
                token = self.token_for(account, **claims)
                response = self.post("/accounts/passkey-edge/login/", HTTP_AUTHORIZATION=f"Bearer {token}")
                self.assertEqual(response.status_code, 403, response.content)
                self.assertEqual(response.json()["code"], "unknown_user")
        self.assertIsNone(self.signed_in_as())

    def test_an_inactive_user_is_refused(self):
        account = self.enrol(self.ada)
        self.ada.is_active = False
        self.ada.save()
        response = self.post("/accounts/passkey-edge/login/", HTTP_AUTHORIZATION=f"Bearer {self.token_for(account)}")
        self.assertEqual(response.status_code, 403)

    def test_a_token_that_does_not_verify_never_reaches_the_view(self):
        account = self.enrol(self.ada)
        response = self.post(
            "/accounts/passkey-edge/login/", HTTP_AUTHORIZATION=f"Bearer {self.token_for(account, aud='another-backend')}"
        )
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response.json()["code"], "invalid_token")
        self.assertEqual(self.post("/accounts/passkey-edge/login/").status_code, 401)
        self.assertIsNone(self.signed_in_as())

    def test_the_token_sign_in_needs_the_csrf_token(self):
        account = self.enrol(self.ada)
        response = self.browser.post(
            "/accounts/passkey-edge/login/", "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.token_for(account)}"
        )
        self.assertEqual(response.status_code, 403)
        self.assertIsNone(self.signed_in_as())


class TwoFactorSetUp(AppTestCase):
    def sign_in(self):
        self.assertEqual(self.post("/accounts/login/", {"username": "ada", "password": PASSWORD}).status_code, 200)

    def test_the_first_set_up_creates_the_user_in_passkey_edge_and_hands_over_a_full_session(self):
        self.sign_in()
        response = self.post("/accounts/two-factor/setup/", {"password": PASSWORD})
        self.assertEqual(response.status_code, 200, response.content)
        answer = response.json()
        account = PasskeyEdgeAccount.objects.get(user=self.ada)
        self.assertEqual(answer["external_id"], account.external_id)
        self.assertEqual(answer["level"], "full")  # no second factor yet: add the first one
        self.assertEqual(self.edge.sessions[answer["session_token"]], account.external_id)
        self.assertEqual(self.edge.users[account.external_id]["email"], "ada@example.com")
        put = self.edge.requests[0]
        self.assertEqual((put[0], put[3]), ("PUT", {"email": "ada@example.com", "display_name": "ada"}))

    def test_a_second_set_up_keeps_the_link_and_a_user_with_a_factor_must_prove_it_first(self):
        self.sign_in()
        account = self.enrol(self.ada)
        self.sign_in()  # (a real sign-in would have gone through the passkey; here the session exists)
        response = self.post("/accounts/two-factor/setup/", {"password": PASSWORD})
        self.assertEqual(response.json()["level"], "partial", response.content)
        self.assertEqual(PasskeyEdgeAccount.objects.get(user=self.ada).external_id, account.external_id)

    def test_the_set_up_asks_for_the_password_and_a_signed_in_user(self):
        self.assertEqual(self.post("/accounts/two-factor/setup/", {"password": PASSWORD}).status_code, 401)
        self.sign_in()
        response = self.post("/accounts/two-factor/setup/", {"password": "not it"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.edge.requests, [])
        self.assertFalse(PasskeyEdgeAccount.objects.exists())

    def test_an_email_passkey_edge_already_has_keeps_no_link(self):
        self.edge.users["someone-else"] = {"email": "ada@example.com", "display_name": None, "second_factor": False}
        self.sign_in()
        response = self.post("/accounts/two-factor/setup/", {"password": PASSWORD})
        self.assertEqual(response.status_code, 409, response.content)
        self.assertEqual(response.json()["code"], "email_taken")
        self.assertFalse(PasskeyEdgeAccount.objects.exists())

    def test_the_status_reads_passkey_edge(self):
        self.sign_in()
        self.assertEqual(self.browser.get("/accounts/two-factor/").json(), {"success": True, "enrolled": False})
        self.enrol(self.ada)
        status = self.browser.get("/accounts/two-factor/").json()
        self.assertEqual((status["enrolled"], len(status["passkeys"]), status["recovery_codes_left"]), (True, 1, 10))


class PasswordChange(AppTestCase):
    def test_a_password_change_revokes_the_users_passkey_edge_sessions_and_keeps_this_one(self):
        self.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
        account = self.enrol(self.ada)
        self.edge.sessions = {"t1": account.external_id, "t2": account.external_id, "t3": "someone-else"}
        response = self.post("/accounts/password/", {"old_password": PASSWORD, "new_password": "a new long password"})
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["passkey_edge_sessions_revoked"], 2)
        self.assertEqual(self.edge.sessions, {"t3": "someone-else"})
        self.assertEqual(self.signed_in_as(), "ada")
        self.assertEqual(self.edge.server_calls(), [("DELETE", f"/api/server/users/{account.external_id}/sessions")])

    def test_a_wrong_current_password_changes_nothing(self):
        self.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
        self.enrol(self.ada)
        response = self.post("/accounts/password/", {"old_password": "nope", "new_password": "a new long password"})
        self.assertEqual(response.status_code, 400)
        self.assertEqual(self.edge.requests, [])


class HelpDeskAndDeletion(AppTestCase):
    def test_the_admin_action_resets_the_second_factors_of_the_selected_users(self):
        account = self.enrol(self.ada)
        bob = get_user_model().objects.create_user("bob", "bob@example.com", PASSWORD)
        staff = get_user_model().objects.create_superuser("helpdesk", "help@example.com", PASSWORD)
        self.edge.sessions = {"t1": account.external_id}
        admin = Client()
        admin.force_login(staff)
        response = admin.post(
            "/admin/auth/user/", {"action": "reset_second_factors", "_selected_action": [self.ada.pk, bob.pk], "index": 0}
        )
        self.assertEqual(response.status_code, 302)
        self.assertFalse(self.edge.users[account.external_id]["second_factor"])
        self.assertEqual(self.edge.sessions, {})
        self.assertEqual(self.edge.server_calls(), [("POST", f"/api/server/users/{account.external_id}/second-factors/reset")])

    def test_deleting_a_django_user_deletes_them_in_passkey_edge_once_committed(self):
        account = self.enrol(self.ada)
        with self.captureOnCommitCallbacks(execute=True):
            self.ada.delete()
            self.assertEqual(self.edge.requests, [])  # not before the commit
        self.assertEqual(self.edge.server_calls(), [("DELETE", f"/api/server/users/{account.external_id}")])
        self.assertNotIn(account.external_id, self.edge.users)


class ServerClient(AppTestCase):
    def test_the_external_id_is_one_path_segment(self):
        api = PasskeyEdgeServer(self.edge.url, SERVER_KEY)
        created, user = api.put_user("a/b?c d", email="x@example.com")
        self.assertTrue(created)
        self.assertEqual(user["external_id"], "a/b?c d")
        self.assertEqual(self.edge.requests[0][1], "/api/server/users/a%2Fb%3Fc%20d")
        self.assertEqual(api.put_user("a/b?c d", display_name="X")[0], False)

    def test_errors_carry_the_code_and_never_the_key(self):
        api = PasskeyEdgeServer(self.edge.url, "w" * 43)
        with self.assertRaises(PasskeyEdgeError) as raised:
            api.get_user("x")
        self.assertEqual((raised.exception.status, raised.exception.code), (401, "invalid_server_key"))
        self.assertNotIn("w" * 43, str(raised.exception) + repr(api))
        self.assertIsNone(PasskeyEdgeServer(self.edge.url, SERVER_KEY).get_user("nobody"))

    def test_an_unreachable_server_is_unavailable(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()[1]
        with self.assertRaises(PasskeyEdgeUnavailable):
            PasskeyEdgeServer(f"http://127.0.0.1:{closed}", SERVER_KEY, timeout=2).get_user("x")

    def test_the_key_goes_over_https_only_except_on_this_machine(self):
        with self.assertRaises(ImproperlyConfigured):
            PasskeyEdgeServer("http://auth.example.test", SERVER_KEY)
        with self.assertRaises(ImproperlyConfigured):
            PasskeyEdgeServer("https://auth.example.test", "")
        PasskeyEdgeServer("https://auth.example.test", SERVER_KEY)
        PasskeyEdgeServer("http://localhost:8787", SERVER_KEY)

    def test_a_redirect_is_not_followed_with_the_key(self):
        class Redirect(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(307)
                self.send_header("Location", f"{edge_url}/api/server/users/x")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        edge_url = self.edge.url
        server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(lambda: (server.shutdown(), server.server_close()))
        with self.assertRaises(PasskeyEdgeError):
            PasskeyEdgeServer(f"http://127.0.0.1:{server.server_port}", SERVER_KEY).get_user("x")
        self.assertEqual(self.edge.requests, [])
