"""The one error of the REST API: a refused request, answered with an HTTP status and ``{"message": ...}``."""

from __future__ import annotations

from ettin.errors import UserError

__all__ = ["RestError"]


class RestError(UserError, ValueError):
    """A refused rerank request; ``status`` is the HTTP status it is answered with, ``headers`` any it adds
    (``Retry-After`` on a busy 503, ``WWW-Authenticate`` on a 401)."""

    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
