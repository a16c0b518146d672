"""View guards on `request.passkey_user` (set by PasskeyEdgeJWTMiddleware)."""
from functools import wraps

from .responses import error_response


def _not_authenticated():
    # RFC 6750: no error code when the request carried no token at all.
    return error_response(401, "not_authenticated", "Sign in first: this needs an access token.", "Bearer")


def require_passkey_user(view):
    """Any verified access token (aal1 or aal2); 401 without one."""

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if getattr(request, "passkey_user", None) is None:
            return _not_authenticated()
        return view(request, *args, **kwargs)

    return guarded


def require_aal2(view):
    """A token whose session verified a second factor (acr aal2); 403 otherwise.

    The 403 carries RFC 9470's step-up challenge, so the client knows to ask
    the user for their passkey or code and to get a new token.
    """

    @wraps(view)
    def guarded(request, *args, **kwargs):
        user = getattr(request, "passkey_user", None)
        if user is None:
            return _not_authenticated()
        if not user.is_aal2:
            return error_response(
                403,
                "insufficient_user_authentication",
                "This needs a sign-in with a second factor (a passkey or a code).",
                'Bearer error="insufficient_user_authentication", acr_values="aal2"',
            )
        return view(request, *args, **kwargs)

    return guarded
