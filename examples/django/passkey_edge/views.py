from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .decorators import require_aal2, require_passkey_user


def _describe(user):
    return {
        "sub": user.sub,
        "email": user.email,
        "amr": list(user.amr),
        "acr": user.acr,
        "auth_time": user.auth_time,
        "sid": user.sid,
    }


@require_GET
def health(request):
    return JsonResponse({"success": True})


@require_GET
@require_passkey_user
def me(request):
    return JsonResponse({"success": True, "user": _describe(request.passkey_user)})


@require_GET
@require_aal2
def sensitive(request):
    # Stands for what should need more than a password: payouts, exports, admin.
    return JsonResponse({"success": True, "user": _describe(request.passkey_user), "secret": "the vault is open"})
