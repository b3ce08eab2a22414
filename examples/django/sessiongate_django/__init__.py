"""sessiongate for Django: see middleware.py and ../README.md."""

from .middleware import Session, SessiongateMiddleware, raw_path, verify_assertion

__all__ = ["Session", "SessiongateMiddleware", "raw_path", "verify_assertion"]
