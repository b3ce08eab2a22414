"""sessiongate middleware for Django: trusts the session headers sessiongate adds only
after verifying X-Session-Assertion (HS256 JWT, standard library only), exposes the
session as ``request.sessiongate`` and sends the session commands back on the response.

settings.py::

    MIDDLEWARE = ["sessiongate_django.middleware.SessiongateMiddleware", ...]  # first
    SESSIONGATE_SECRET = os.environ["ORIGIN_SECRET"]
    SESSIONGATE_AUDIENCE = "app.internal:8000"  # this origin's host as the gateway reaches it

In a view::

    request.sessiongate.user_id           # None when anonymous
    request.sessiongate.login("alice")    # X-Session-User-Id on this view's response
    request.sessiongate.update({"cart": [...]})
    request.sessiongate.logout()

A request whose assertion is missing, forged, expired, for another audience, for another
request (method, raw path) or whose X-Session-* headers do not match it gets 401 and never
reaches the view (``SESSIONGATE_ON_INVALID = "anonymous"`` lets it through with
``request.sessiongate = None`` instead).
"""

import base64
import binascii
import hashlib
import hmac
import json
import re
import time

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse

__all__ = ["Session", "SessiongateMiddleware", "raw_path", "verify_assertion"]

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_USER_ID = re.compile(r"^[\x20-\x7e]{1,256}$")


def _b64decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def raw_path(request):
    """The request target (path and query) exactly as the client sent it, which is what
    the assertion signs: ``RAW_URI`` under gunicorn, ``REQUEST_URI`` under uWSGI (and
    mod_wsgi). Elsewhere (``manage.py runserver``) Django's re-encoded path, which equals
    the raw one only when the client's percent-encoding was canonical."""
    for key in ("RAW_URI", "REQUEST_URI"):
        value = request.META.get(key)
        if value:
            return value
    return request.get_full_path()


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def verify_assertion(meta, method, path, *, secret, audience, issuer="sessiongate",
                     prefix="X-Session-", leeway=0, now=None):
    """Checks the assertion in ``meta`` (a WSGI environ / request.META) against the request.
    Returns ``(claims, None)`` or ``(None, reason)``."""
    key = "HTTP_" + prefix.upper().replace("-", "_")
    token = meta.get(key + "ASSERTION")
    if not token:
        return None, "missing"
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.match(p) for p in parts):
        return None, "malformed"
    head, body, sig = parts
    try:
        header = json.loads(_b64decode(head))
        claims = json.loads(_b64decode(body))
    except (ValueError, binascii.Error):
        return None, "malformed"
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return None, "algorithm"
    want = _b64encode(hmac.new(secret, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest())
    if not hmac.compare_digest(want, sig):
        return None, "signature"
    if not isinstance(claims, dict) or not _number(claims.get("exp")) or not _number(claims.get("iat")):
        return None, "malformed"
    if (time.time() if now is None else now) >= claims["exp"] + leeway:
        return None, "expired"
    if claims.get("iss") != issuer:
        return None, "issuer"
    aud = claims.get("aud")
    if audience not in (aud if isinstance(aud, list) else [aud]):
        return None, "audience"
    if claims.get("method") != method or claims.get("path") != path:
        return None, "request"
    data = meta.get(key + "DATA", "")
    if claims.get("data_sha256") != _b64encode(hashlib.sha256(data.encode("latin-1")).digest()):
        return None, "data"
    if claims.get("sid") != meta.get(key + "ID"):
        return None, "sid"
    if claims.get("sub") != meta.get(key + "USER_ID"):
        return None, "sub"
    return claims, None


def _compose(a, b):
    """Two JSON merge patches (RFC 7396) as one: objects merge, the later value wins."""
    out = dict(a)
    for k, v in b.items():
        out[k] = _compose(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


class Session:
    """The session sessiongate vouches for: ``id``, ``user_id`` (None when absent),
    ``data`` (a dict), and the commands to send back with the response."""

    def __init__(self, meta, prefix="X-Session-"):
        key = "HTTP_" + prefix.upper().replace("-", "_")
        data = meta.get(key + "DATA")
        self.id = meta.get(key + "ID")
        self.user_id = meta.get(key + "USER_ID")
        self.data = json.loads(_b64decode(data)) if data else {}
        if not isinstance(self.data, dict):
            raise ValueError("session data is not an object")
        self.is_new = meta.get(key + "NEW") == "1"
        self.expires_at = meta.get(key + "EXPIRES_AT")
        self.store = meta.get(key + "STORE")
        omitted = meta.get(key + "DATA_OMITTED")
        # Bytes of data the gateway withheld (over its header budget), else None.
        self.data_omitted = int(omitted) if omitted and omitted.isdigit() else None
        self._prefix = prefix
        self._login = None
        self._patch = None
        self._actions = []

    def login(self, user_id, keep_data=False):
        """Logs ``user_id`` in (or switches user); the gateway moves the session to a new id."""
        if not isinstance(user_id, str) or user_id != user_id.strip() or not _USER_ID.match(user_id) or "," in user_id:
            raise ValueError("sessiongate: a user id is 1-256 printable ASCII characters, no comma, no surrounding spaces")
        self._login = user_id
        self._drop("delete")
        if keep_data:
            self.action("keep-data")
        return self

    def update(self, patch):
        """Merges ``patch`` into the session data (JSON merge patch: None deletes a key)."""
        if not isinstance(patch, dict):
            raise TypeError("sessiongate: update takes a dict")
        self._patch = _compose(self._patch or {}, patch)
        self._drop("delete")
        return self

    def logout(self):
        """Logs out: the gateway deletes the session and clears its cookie. Drops earlier
        login/update calls of this request."""
        self._login = self._patch = None
        self._actions = ["delete"]
        return self

    def action(self, *names):
        """Any other action: "cycle", "clear", "create", "revoke-user", "revoke-others"."""
        for name in names:
            if name not in self._actions:
                self._actions.append(name)
        return self

    def _drop(self, name):
        self._actions = [a for a in self._actions if a != name]

    def apply(self, response):
        """Writes the commands onto ``response`` (the middleware does this)."""
        if self._login is not None:
            response[self._prefix + "User-Id"] = self._login
        if self._patch is not None:
            # base64url: any JSON (non-ASCII included) is a valid header value this way.
            response[self._prefix + "Update"] = _b64encode(json.dumps(self._patch).encode("utf-8"))
        if self._actions:
            response[self._prefix + "Action"] = ", ".join(self._actions)
        return response


class SessiongateMiddleware:
    """Settings: SESSIONGATE_SECRET (the gateway's ORIGIN_SECRET), SESSIONGATE_AUDIENCE
    (the host of the gateway's ORIGIN_URL, lower-case, default port dropped),
    SESSIONGATE_ISSUER ("sessiongate", the gateway's WORKER_NAME), SESSIONGATE_PREFIX
    ("X-Session-"), SESSIONGATE_LEEWAY (seconds of clock skew allowed on exp, 0),
    SESSIONGATE_ON_INVALID ("reject": 401, or "anonymous": request.sessiongate = None)."""

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        secret = getattr(settings, "SESSIONGATE_SECRET", None)
        audience = getattr(settings, "SESSIONGATE_AUDIENCE", None)
        if not secret or not audience:
            raise ImproperlyConfigured("sessiongate: set SESSIONGATE_SECRET and SESSIONGATE_AUDIENCE")
        self.options = {
            "secret": secret.encode("utf-8") if isinstance(secret, str) else secret,
            "audience": audience.lower(),
            "issuer": getattr(settings, "SESSIONGATE_ISSUER", "sessiongate"),
            "prefix": getattr(settings, "SESSIONGATE_PREFIX", "X-Session-"),
            "leeway": getattr(settings, "SESSIONGATE_LEEWAY", 0),
        }
        self.on_invalid = getattr(settings, "SESSIONGATE_ON_INVALID", "reject")
        if self.on_invalid not in ("reject", "anonymous"):
            raise ImproperlyConfigured('sessiongate: SESSIONGATE_ON_INVALID is "reject" or "anonymous"')

    def __call__(self, request):
        claims, reason = verify_assertion(request.META, request.method, raw_path(request), **self.options)
        session = None
        if claims is not None:
            try:
                session = Session(request.META, self.options["prefix"])
            except (ValueError, binascii.Error):
                reason = "data"
        request.sessiongate = session
        request.sessiongate_error = reason
        if session is None and self.on_invalid == "reject":
            return HttpResponse("session assertion missing or invalid\n", status=401, content_type="text/plain")
        response = self.get_response(request)
        if session is not None:
            session.apply(response)
        return response
