from django.http import JsonResponse


def error_response(status: int, code: str, message: str, challenge: str) -> JsonResponse:
    """passkey-edge's error envelope, with RFC 6750's WWW-Authenticate challenge."""
    response = JsonResponse({"success": False, "code": code, "message": message}, status=status)
    response["WWW-Authenticate"] = challenge
    response["Cache-Control"] = "no-store"
    return response
