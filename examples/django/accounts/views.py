"""The app's own sign-in, with passkey-edge for the second factor and passkeys.

JSON views for a front end (a single-page app or a mobile app) that talks to
both this backend and passkey-edge:

- `login/`: Django checks the password. A user who never set up a second
  factor is signed in at once. One who did gets a partial passkey-edge
  session (server API) whose token the front end uses to finish with a
  passkey (or TOTP, or a recovery code) against passkey-edge.
- `passkey-edge/login/`: the front end posts the access token it then got
  from passkey-edge (`POST /api/auth/token/`) as `Authorization: Bearer`;
  the middleware has verified it (PyJWT + JWKS), and this view opens the
  Django session of the user whose external id is its `sub`. The same view
  serves "Sign in with a passkey" (passkey-edge's passwordless sign-in).
- `two-factor/setup/`: creates the user in passkey-edge on first use, and
  hands the front end a session to add a passkey with.
- `password/`: a password change ends the user's passkey-edge sessions.

All of them are CSRF-protected like any Django form: the front end reads the
token from `csrf/` and sends it as `X-CSRFToken`.
"""
import json
import logging

from django.contrib.auth import authenticate, get_user_model, login, logout, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from passkey_edge.models import PasskeyEdgeAccount, UsedAccessToken
from passkey_edge.server import PasskeyEdgeError, server_api

logger = logging.getLogger("passkey_edge")

# How the Django session was opened, kept in it: what /accounts/me/ reports.
SESSION_AMR = "passkey_edge_amr"


def _error(status, code, message):
    response = JsonResponse({"success": False, "code": code, "message": message}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _body(request):
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _strings(body, *names):
    values = [body.get(name) for name in names]
    return values if all(isinstance(value, str) and value for value in values) else None


def _account(user):
    try:
        return user.passkey_edge
    except PasskeyEdgeAccount.DoesNotExist:
        return None


def _describe(request):
    user = request.user
    account = _account(user)
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": user.email,
        "external_id": account.external_id if account else None,
        "amr": request.session.get(SESSION_AMR, ["pwd"]),
    }


def _unavailable(error):
    logger.error("passkey-edge server API: %s", error)
    return _error(503, "second_factor_unavailable", "The sign-in service is not available. Try again shortly.")


def login_required_json(view):
    def guarded(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _error(401, "not_authenticated", "Sign in first.")
        return view(request, *args, **kwargs)

    guarded.__name__ = view.__name__
    return guarded


@require_GET
@ensure_csrf_cookie
def csrf(request):
    return JsonResponse({"success": True, "csrf_token": get_token(request)})


@require_POST
def signup(request):
    body = _body(request)
    fields = body and _strings(body, "username", "email", "password")
    if not fields:
        return _error(400, "invalid_request", "username, email and password are required.")
    username, email, password = fields
    User = get_user_model()
    user = User(username=username, email=email.strip())
    try:
        validate_password(password, user)
    except ValidationError as error:
        return _error(400, "invalid_request", " ".join(error.messages))
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        return _error(409, "username_taken", "That username is taken.")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return JsonResponse({"success": True, "user": _describe(request)}, status=201)


@require_POST
def login_with_password(request):
    body = _body(request)
    fields = body and _strings(body, "username", "password")
    if not fields:
        return _error(400, "invalid_request", "username and password are required.")
    user = authenticate(request, username=fields[0], password=fields[1])
    if user is None:
        return _error(400, "invalid_credentials", "Wrong username or password.")

    account = _account(user)
    if account is None:
        # Never set up a second factor: the password is the whole sign-in.
        login(request, user)
        return JsonResponse({"success": True, "status": "signed_in", "user": _describe(request)})

    try:
        session, token = server_api().create_session(account.external_id, "partial", ["pwd"])
    except PasskeyEdgeError as error:
        # The user has (or had) a second factor: no way to check it, no sign-in.
        return _unavailable(error)

    if session.get("level") == "full":
        # passkey-edge knows the user but they have no second factor (left
        # after a help-desk reset, or a set-up never finished): the password
        # is enough, and the session Django does not need is ended at once.
        try:
            server_api().logout(token)
        except PasskeyEdgeError as error:
            logger.warning("could not end an unused passkey-edge session: %s", error)
        login(request, user)
        return JsonResponse({"success": True, "status": "signed_in", "user": _describe(request)})

    # No Django session yet: the front end finishes with passkey-edge, then
    # posts the access token to passkey-edge/login/.
    return JsonResponse(
        {
            "success": True,
            "status": "second_factor_required",
            "session_token": token,
            "methods": session.get("methods", []),
            "expires_at": session.get("expires_at"),
        }
    )


@require_POST
def login_with_access_token(request):
    claims_user = request.passkey_user  # verified by PasskeyEdgeJWTMiddleware, or None
    if claims_user is None:
        return _error(401, "not_authenticated", "Send the access token as Authorization: Bearer.")
    if not claims_user.is_aal2:
        # A token this view accepts comes from a passkey or a second factor.
        return _error(403, "insufficient_user_authentication", "This needs a passkey or a second factor.")
    if claims_user.claims.get("sub_type") != "external_id":
        # A user who signed up with passkey-edge itself is not one of ours.
        return _error(403, "unknown_user", "This account is not known here.")
    account = PasskeyEdgeAccount.objects.select_related("user").filter(external_id=claims_user.sub).first()
    if account is None or not account.user.is_active:
        return _error(403, "unknown_user", "This account is not known here.")
    jti, exp = claims_user.claims.get("jti"), claims_user.claims.get("exp")
    if not isinstance(jti, str) or not jti or not UsedAccessToken.consume(jti, int(exp)):
        return _error(401, "token_used", "This access token has already been used: get a new one.")
    login(request, account.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_AMR] = list(claims_user.amr)
    return JsonResponse({"success": True, "status": "signed_in", "user": _describe(request)})


@require_POST
def logout_view(request):
    logout(request)
    return JsonResponse({"success": True})


@require_GET
@login_required_json
def me(request):
    return JsonResponse({"success": True, "user": _describe(request)})


@require_POST
@login_required_json
def change_password(request):
    body = _body(request)
    fields = body and _strings(body, "old_password", "new_password")
    if not fields:
        return _error(400, "invalid_request", "old_password and new_password are required.")
    user = request.user
    if not user.check_password(fields[0]):
        return _error(400, "invalid_credentials", "The current password is wrong.")
    try:
        validate_password(fields[1], user)
    except ValidationError as error:
        return _error(400, "invalid_request", " ".join(error.messages))
    user.set_password(fields[1])
    user.save(update_fields=["password"])
    update_session_auth_hash(request, user)  # this session stays, Django's others end
    revoked = None
    account = _account(user)
    if account is not None:
        # Whoever knew the old password may hold a passkey-edge session too.
        try:
            revoked = server_api().revoke_sessions(account.external_id)
        except PasskeyEdgeError as error:
            logger.error("password changed but passkey-edge sessions not revoked for %s: %s", account.external_id, error)
    return JsonResponse({"success": True, "passkey_edge_sessions_revoked": revoked})


@require_GET
@login_required_json
def two_factor_status(request):
    account = _account(request.user)
    if account is None:
        return JsonResponse({"success": True, "enrolled": False})
    try:
        remote = server_api().get_user(account.external_id)
    except PasskeyEdgeError as error:
        return _unavailable(error)
    if remote is None:
        return JsonResponse({"success": True, "enrolled": False})
    return JsonResponse(
        {
            "success": True,
            "enrolled": True,
            "passkeys": [{"name": passkey.get("name"), "passwordless": passkey.get("passwordless")} for passkey in remote.get("passkeys", [])],
            "totp": remote.get("totp"),
            "recovery_codes_left": remote.get("recovery_codes_left"),
        }
    )


@require_POST
@login_required_json
def two_factor_setup(request):
    """Creates the user in passkey-edge on first use; a session to add a passkey with.

    Asks for the password again, as adding a way to sign in should. The
    session asked for is `partial`: a user who has no second factor yet gets
    a `full` one (add the first passkey now); one who has must prove it first
    (verify with a passkey or a code, then add another).
    """
    body = _body(request)
    fields = body and _strings(body, "password")
    user = request.user
    if not fields:
        return _error(400, "invalid_request", "password is required.")
    if not user.check_password(fields[0]):
        return _error(400, "invalid_credentials", "The password is wrong.")
    api = server_api()
    account = _account(user)
    display_name = user.get_full_name() or user.get_username()
    try:
        if account is None:
            with transaction.atomic():
                account = PasskeyEdgeAccount.objects.create(user=user)
                # Inside the transaction: no link kept when passkey-edge says no.
                api.put_user(account.external_id, email=user.email, display_name=display_name)
        else:
            api.put_user(account.external_id, email=user.email, display_name=display_name)  # keeps them in step
        session, token = api.create_session(account.external_id, "partial", ["pwd"])
    except PasskeyEdgeError as error:
        if error.code == "email_taken":
            return _error(409, "email_taken", "This email is already used by another passkey-edge account.")
        return _unavailable(error)
    return JsonResponse(
        {
            "success": True,
            "external_id": account.external_id,
            "session_token": token,
            "level": session.get("level"),
            "methods": session.get("methods", []),
        }
    )
