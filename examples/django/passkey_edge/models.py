"""What this app keeps about passkey-edge: which of its users are there, and
which access tokens have already opened a session."""
import logging
import uuid
from datetime import datetime, timezone

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

logger = logging.getLogger("passkey_edge")


def new_external_id() -> str:
    # Random, never reused and never an email: the id passkey-edge knows the
    # user by, and the `sub` of their access tokens.
    return f"dj-{uuid.uuid4()}"


class PasskeyEdgeAccount(models.Model):
    """A Django user who has been created in passkey-edge (on their first 2FA set-up)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkey_edge")
    external_id = models.CharField(max_length=128, unique=True, default=new_external_id, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.external_id


class UsedAccessToken(models.Model):
    """The `jti` of each access token that opened a Django session, until its `exp`.

    An access token is a bearer credential valid for minutes: one that leaked
    (a log, a proxy) must not open a second session.
    """

    jti = models.CharField(max_length=255, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    @classmethod
    def consume(cls, jti: str, exp: int) -> bool:
        """True the first time a token is presented, False every time after."""
        now = datetime.now(timezone.utc)
        cls.objects.filter(expires_at__lt=now).delete()
        try:
            with transaction.atomic():
                cls.objects.create(jti=jti, expires_at=datetime.fromtimestamp(exp, timezone.utc))
        except IntegrityError:
            return False
        return True


@receiver(post_delete, sender=PasskeyEdgeAccount)
def delete_remote_user(sender, instance, **kwargs):
    """Account deletion reaches passkey-edge: the user, passkeys, sessions go too."""
    from .server import PasskeyEdgeError, server_api

    external_id = instance.external_id

    def delete():
        try:
            server_api().delete_user(external_id)
        except PasskeyEdgeError as error:
            # Idempotent on passkey-edge's side: a job can retry it from this log line.
            logger.error("could not delete passkey-edge user %s: %s", external_id, error)

    transaction.on_commit(delete)
