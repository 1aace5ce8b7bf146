"""The error family of the service: each error knows its HTTP status and a stable code.

Raised by the core, rendered by the API as `application/problem+json` and by the CLI
as one readable line with a non-zero exit status.
"""

from __future__ import annotations

__all__ = [
    "TriageError",
    "ContractError",
    "ConfigError",
    "NotEnoughDataError",
    "NotFoundError",
    "ConflictError",
    "UnavailableError",
    "AuthenticationError",
    "PermissionDeniedError",
    "PayloadTooLargeError",
    "RateLimitedError",
]


class TriageError(Exception):
    """Base of every error the service raises on purpose."""

    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s  # when to try again (503, 429: the Retry-After header)


class ContractError(TriageError):
    """A dataset or event breaks the data contract."""

    status = 422
    code = "contract"


class ConfigError(TriageError):
    """A setting, policy or model file is missing or malformed."""

    status = 500
    code = "config"


class NotEnoughDataError(TriageError):
    """The data is valid but cannot support what was asked: too few labelled events, no
    labels in the window, one class only. Said in one line; the rest goes on where it can."""

    status = 422
    code = "not_enough_data"


class NotFoundError(TriageError):
    status = 404
    code = "not_found"


class ConflictError(TriageError):
    status = 409
    code = "conflict"


class UnavailableError(TriageError):
    """A store or model the request needs cannot be reached."""

    status = 503
    code = "unavailable"


class AuthenticationError(TriageError):
    """No API key, or one the service does not know (or has revoked)."""

    status = 401
    code = "unauthorized"


class PermissionDeniedError(TriageError):
    """A known API key without the scope the route needs."""

    status = 403
    code = "forbidden"


class PayloadTooLargeError(TriageError):
    """A body or batch above the configured limit."""

    status = 413
    code = "too_large"


class RateLimitedError(TriageError):
    """An API key above its request rate (`rate_limit_per_second`)."""

    status = 429
    code = "rate_limited"
