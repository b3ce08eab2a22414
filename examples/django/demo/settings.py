"""A minimal Django project behind sessiongate (no database, no installed apps).

    ORIGIN_SECRET=... ORIGIN_AUDIENCE=127.0.0.1:8000 DJANGO_ALLOWED_HOSTS=app.example,127.0.0.1 \
      gunicorn --chdir examples/django --bind 127.0.0.1:8000 demo.wsgi:application
"""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-a-secret")
DEBUG = False
ROOT_URLCONF = "demo.urls"
INSTALLED_APPS = []
DATABASES = {}
USE_TZ = True

# The gateway checks the assertion first: a request that did not come through it is
# refused before any other middleware reads a header it could have forged.
MIDDLEWARE = [
    "sessiongate_django.middleware.SessiongateMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A real app keeps "django.middleware.csrf.CsrfViewMiddleware" here: it works behind
    # the gateway (its csrftoken cookie passes through; the Origin check needs the two
    # proxy settings below). The demo posts plain forms from tests, so it is left out.
]

SESSIONGATE_SECRET = os.environ["ORIGIN_SECRET"]
# The host of the gateway's ORIGIN_URL (lower-case, default port dropped): a fixed value.
SESSIONGATE_AUDIENCE = os.environ["ORIGIN_AUDIENCE"]

# Behind the gateway: the Host header is the origin's own (from ORIGIN_URL); the public
# host and scheme arrive as X-Forwarded-Host and X-Forwarded-Proto, which the gateway
# always sets, replacing whatever the client sent. Trust them only because a request
# that did not pass the gateway never gets past SessiongateMiddleware.
USE_X_FORWARDED_HOST = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The public host(s) the gateway serves, and the origin's own for direct health checks.
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
