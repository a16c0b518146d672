"""An existing Django app that adds passkeys and 2FA with passkey-edge.

Two ways in, side by side:

- Django's own users (django.contrib.auth, sessions, a SQLite database):
  the `accounts` app checks passwords itself and, for a user who has set up
  a second factor, asks passkey-edge's server API for a partial session that
  the front end finishes with a passkey; an access token from passkey-edge
  then opens the Django session (`accounts/views.py`).
- A backend API that trusts passkey-edge's access tokens and nothing else
  (`passkey_edge/middleware.py`, `/api/me`, `/api/sensitive`).

Everything comes from the environment, so the same settings serve the unit
tests, the end-to-end run against `wrangler dev` and a deployment.
"""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Django signs with it (password-change session hashes, admin): set one in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "passkey_edge",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "passkey_edge.middleware.PasskeyEdgeJWTMiddleware",
]

ROOT_URLCONF = "example_project.urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DATABASE", os.path.join(BASE_DIR, "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
USE_TZ = True
APPEND_SLASH = False
STATIC_URL = "/static/"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = os.environ.get("DJANGO_SECURE_COOKIES") == "1"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Where the tokens come from and who they are for (see README.md). The issuer
# is passkey-edge's TOKEN_ISSUER, the audience one of its TOKEN_AUDIENCES, and
# the JWKS URL the `jwks_uri` of its /.well-known/openid-configuration.
PASSKEY_EDGE_ISSUER = os.environ.get("PASSKEY_EDGE_ISSUER")
PASSKEY_EDGE_AUDIENCE = os.environ.get("PASSKEY_EDGE_AUDIENCE")
PASSKEY_EDGE_JWKS_URL = os.environ.get("PASSKEY_EDGE_JWKS_URL")

# The server API (passkey_edge/server.py): passkey-edge's base URL and this
# backend's server key, one of the `name:key` pairs of its SERVER_API_KEYS.
# The key is a secret: from the environment, never in a URL or a log line.
PASSKEY_EDGE_URL = os.environ.get("PASSKEY_EDGE_URL")
PASSKEY_EDGE_SERVER_KEY = os.environ.get("PASSKEY_EDGE_SERVER_KEY")

TEST_RUNNER = "passkey_edge.test_runner.CountingTestRunner"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"passkey_edge": {"handlers": ["console"], "level": os.environ.get("PASSKEY_EDGE_LOG_LEVEL", "WARNING")}},
}
