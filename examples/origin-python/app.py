"""A demo origin behind sessiongate, in Python (WSGI, standard library + PyJWT).

Trusts the X-Session-* headers only after verifying X-Session-Assertion, a standard
HS256 JWT signed with ORIGIN_SECRET:

    ORIGIN_SECRET=... ORIGIN_AUDIENCE=host:port python3 examples/origin-python/app.py [port]

(default port 8789, loopback). ORIGIN_AUDIENCE is this origin's host as the gateway
reaches it (the host of its ORIGIN_URL): a fixed value, never the request's own Host.
"""

import base64
import hashlib
import json
import os
import sys
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

import jwt

SECRET = os.environ.get("ORIGIN_SECRET", "")
ISSUER = os.environ.get("SESSIONGATE_ISSUER", "sessiongate")
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8789
AUDIENCE = os.environ.get("ORIGIN_AUDIENCE", f"127.0.0.1:{PORT}")


def b64url_json(value):
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def request_path(environ):
    """The path and query exactly as sent (PATH_INFO is percent-decoded)."""
    return environ["RAW_URI"]


def session(environ):
    """The session sessiongate vouches for, or None when the assertion does not check out."""
    data = environ.get("HTTP_X_SESSION_DATA", "")
    token = environ.get("HTTP_X_SESSION_ASSERTION")
    if not SECRET or not token:
        return None
    try:
        claims = jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            issuer=ISSUER,
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    digest = base64.urlsafe_b64encode(hashlib.sha256(data.encode()).digest()).rstrip(b"=").decode()
    if (
        claims.get("method") != environ["REQUEST_METHOD"]
        or claims.get("path") != request_path(environ)
        or claims.get("data_sha256") != digest
        or claims.get("sid") != environ.get("HTTP_X_SESSION_ID")
        or claims.get("sub") != environ.get("HTTP_X_SESSION_USER_ID")
    ):
        return None
    return {
        "id": environ.get("HTTP_X_SESSION_ID"),
        "user": environ.get("HTTP_X_SESSION_USER_ID"),
        "store": environ.get("HTTP_X_SESSION_STORE"),
        "data": b64url_json(data) if data else {},
    }


def form(environ):
    size = int(environ.get("CONTENT_LENGTH") or 0)
    return parse_qs(environ["wsgi.input"].read(size).decode())


def app(environ, start_response):
    s = session(environ)
    if s is None:
        start_response("401 Unauthorized", [("Content-Type", "text/plain")])
        return [b"session assertion missing or invalid\n"]
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    back = [("Location", "/"), ("Content-Type", "text/plain")]
    if method == "POST" and path == "/login":
        user = form(environ).get("user", [""])[0]
        start_response("303 See Other", back + [("X-Session-User-Id", user)])
        return [b"logged in\n"]
    if method == "POST" and path == "/cart":
        item = form(environ).get("item", [""])[0]
        cart = list(s["data"].get("cart", [])) + [item]
        start_response("303 See Other", back + [("X-Session-Update", json.dumps({"cart": cart}))])
        return [b"added\n"]
    if method == "POST" and path == "/logout":
        start_response("303 See Other", back + [("X-Session-Action", "delete")])
        return [b"logged out\n"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(s).encode()]


class Handler(WSGIRequestHandler):
    def get_environ(self):
        env = super().get_environ()
        env["RAW_URI"] = self.path  # the request target as sent, for the path claim
        return env

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    with make_server("127.0.0.1", PORT, app, handler_class=Handler) as server:
        print(f"python origin on http://127.0.0.1:{PORT}", flush=True)
        server.serve_forever()
