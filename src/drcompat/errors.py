"""Domain errors that carry their HTTP status, mapped to ``{"message": ...}`` in one place.

Handlers never format errors themselves: they raise one of these and the API layer renders it.
The message is written for the client, so it must never include internals or secrets.
"""

from __future__ import annotations


class ApiError(Exception):
    """An error the client caused (4xx) or may retry (5xx), with a safe message."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class PayloadTooLarge(ApiError):
    status = 413


class UriTooLong(ApiError):
    status = 414


class UnsupportedMediaType(ApiError):
    status = 415


class ModelError(ApiError):
    """A deployment points at a model that cannot be loaded or run: the operator's problem."""

    status = 500
