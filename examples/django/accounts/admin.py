"""Help-desk recovery in the Django admin: after staff have verified the
person by the app's own means (a call back, an ID check), one action removes
their passkeys, TOTP and recovery codes in passkey-edge and ends their
sessions there. Their next sign-in is their password alone; they set up a
second factor again from there."""
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from passkey_edge.models import PasskeyEdgeAccount
from passkey_edge.server import PasskeyEdgeError, server_api


@admin.action(description="Reset second factors in passkey-edge (lost device; identity checked)")
def reset_second_factors(modeladmin, request, queryset):
    api = server_api()
    reset, failed = 0, 0
    for account in PasskeyEdgeAccount.objects.filter(user__in=queryset):
        try:
            api.reset_second_factors(account.external_id)
            reset += 1
        except PasskeyEdgeError as error:
            failed += 1
            modeladmin.message_user(request, f"{account.user}: {error.code}", messages.ERROR)
    skipped = queryset.count() - reset - failed
    modeladmin.message_user(
        request,
        f"Second factors reset for {reset} user(s); {skipped} had none set up.",
        messages.SUCCESS if failed == 0 else messages.WARNING,
    )


class PasskeyEdgeUserAdmin(UserAdmin):
    actions = [reset_second_factors]


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, PasskeyEdgeUserAdmin)
