"""A backend that trusts passkey-edge's access tokens and nothing else.

No database: the user is whoever the token says, so this project has no
models, no sessions and no django.contrib.auth. Everything the middleware
needs comes from the environment, so the same settings serve the unit tests,
the end-to-end run against `wrangler dev` and a deployment.
"""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Only for Django's own signing (nothing here uses it); set one in production.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = ["passkey_edge"]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "passkey_edge.middleware.PasskeyEdgeJWTMiddleware",
]

ROOT_URLCONF = "example_project.urls"
DATABASES = {}
USE_TZ = True
APPEND_SLASH = False

# Where the tokens come from and who they are for (see README.md). The issuer
# is passkey-edge's TOKEN_ISSUER, the audience one of its TOKEN_AUDIENCES, and
# the JWKS URL the `jwks_uri` of its /.well-known/openid-configuration.
PASSKEY_EDGE_ISSUER = os.environ.get("PASSKEY_EDGE_ISSUER")
PASSKEY_EDGE_AUDIENCE = os.environ.get("PASSKEY_EDGE_AUDIENCE")
PASSKEY_EDGE_JWKS_URL = os.environ.get("PASSKEY_EDGE_JWKS_URL")

TEST_RUNNER = "passkey_edge.test_runner.CountingTestRunner"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"passkey_edge": {"handlers": ["console"], "level": os.environ.get("PASSKEY_EDGE_LOG_LEVEL", "WARNING")}},
}
