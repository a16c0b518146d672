"""passkey-edge's server API, called by this backend with its server key.

Routes under /api/server/ take `Authorization: Bearer <server key>` (one of
the `name:key` pairs of passkey-edge's SERVER_API_KEYS) and act on a user
named by this app's own id, the `external_id`. The key never goes into a URL,
a log line or an exception message, and never follows a redirect.

Settings (or environment variables of the same names):
  PASSKEY_EDGE_URL            passkey-edge's base URL (https; http only on this machine)
  PASSKEY_EDGE_SERVER_KEY     this backend's server key
  PASSKEY_EDGE_SERVER_TIMEOUT_SECONDS   for one call (default 10)
"""
import json
import logging
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("passkey_edge")


class PasskeyEdgeError(Exception):
    """passkey-edge answered with its error envelope (`code` is its `code`)."""

    def __init__(self, status: int, code: str, message: str = ""):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


class PasskeyEdgeUnavailable(PasskeyEdgeError):
    """No answer, a timeout, or an answer that is not passkey-edge's JSON."""

    def __init__(self, reason: str):
        super().__init__(0, "unavailable", reason)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would resend the Authorization header to wherever a redirect
    # points: a redirect is an error here, the key stays with passkey-edge.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def is_local(hostname: Optional[str]) -> bool:
    return hostname in ("localhost", "127.0.0.1", "::1")


def check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_local(parts.hostname)):
        # Whoever reads the traffic would have the server key (or forge the keys).
        raise ImproperlyConfigured(f"{name} must be https (http only for localhost)")


def _setting(name: str, default: Any = None) -> Any:
    value = getattr(settings, name, None)
    return default if value is None or value == "" else value


class PasskeyEdgeServer:
    def __init__(self, base_url: str, server_key: str, timeout: float = 10):
        if not base_url or not server_key:
            raise ImproperlyConfigured("PASSKEY_EDGE_URL and PASSKEY_EDGE_SERVER_KEY must be set")
        check_url("PASSKEY_EDGE_URL", base_url)
        self.base_url = base_url.rstrip("/")
        self._key = server_key
        self.timeout = timeout

    def __repr__(self) -> str:  # never the key
        return f"PasskeyEdgeServer({self.base_url!r})"

    # -- the server routes ------------------------------------------------

    def put_user(self, external_id: str, email: Optional[str] = None, display_name: Optional[str] = None) -> Tuple[bool, Dict[str, Any]]:
        """Creates (True) or updates (False) the user linked to `external_id`."""
        body = {name: value for name, value in (("email", email), ("display_name", display_name)) if value}
        status, answer = self._call("PUT", self._user_path(external_id), body)
        return status == 201, answer["user"]

    def get_user(self, external_id: str) -> Optional[Dict[str, Any]]:
        """What support staff see: passkeys, TOTP, recovery codes left, sessions; None when unknown."""
        try:
            return self._call("GET", self._user_path(external_id))[1]
        except PasskeyEdgeError as error:
            if error.code == "not_found":
                return None
            raise

    def delete_user(self, external_id: str) -> None:
        self._call("DELETE", self._user_path(external_id))

    def create_session(self, external_id: str, level: str, amr: List[str]) -> Tuple[Dict[str, Any], str]:
        """A session this app vouches for: (the Session object, its session_token)."""
        answer = self._call("POST", self._user_path(external_id) + "/sessions", {"level": level, "amr": amr})[1]
        return answer["session"], answer["session_token"]

    def revoke_sessions(self, external_id: str) -> int:
        return int(self._call("DELETE", self._user_path(external_id) + "/sessions")[1].get("revoked", 0))

    def reset_second_factors(self, external_id: str) -> int:
        path = self._user_path(external_id) + "/second-factors/reset"
        return int(self._call("POST", path)[1].get("revoked", 0))

    # -- a user route, with a session token this app was given ---------------

    def logout(self, session_token: str) -> None:
        """Ends one session (the user route, the session's own token): one this app does not need."""
        self._call("POST", "/api/auth/logout/", None, bearer=session_token)

    # ---------------------------------------------------------------------

    @staticmethod
    def _user_path(external_id: str) -> str:
        return "/api/server/users/" + quote(external_id, safe="")

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, bearer: Optional[str] = None):
        headers = {"Accept": "application/json", "Authorization": f"Bearer {bearer or self._key}"}
        if bearer is not None:
            headers["X-Client"] = "app"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                status, text = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        except (OSError, ValueError) as error:  # unreachable, timed out, refused
            # The route, not the URL's query or the key: neither is in the message.
            raise PasskeyEdgeUnavailable(f"{method} {path}: {type(error).__name__}") from None
        try:
            answer = json.loads(text)
        except ValueError:
            raise PasskeyEdgeUnavailable(f"{method} {path}: {status}, not JSON") from None
        if not isinstance(answer, dict):
            raise PasskeyEdgeUnavailable(f"{method} {path}: {status}, not an object")
        if status >= 300 or answer.get("success") is not True:
            raise PasskeyEdgeError(status, str(answer.get("code", "unknown")), str(answer.get("message", "")))
        return status, answer


def server_api() -> PasskeyEdgeServer:
    return PasskeyEdgeServer(
        _setting("PASSKEY_EDGE_URL"),
        _setting("PASSKEY_EDGE_SERVER_KEY"),
        timeout=float(_setting("PASSKEY_EDGE_SERVER_TIMEOUT_SECONDS", 10)),
    )
