"""One exception tree, so callers can catch everything bankscore raises with one clause.

Shaped like openai-python's: transport failures, HTTP status failures and model failures are
separate branches, and every error from the wire carries the status and the request ids a
support engineer asks for — never the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class BankscoreError(Exception):
    """Base of every error bankscore raises on purpose."""


class MissingDependencyError(BankscoreError, ImportError):
    """A feature needs an optional extra that isn't installed; the message is the command that installs it."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        self.feature = feature
        self.extra = extra
        self.module = module
        super().__init__(
            f'{feature} needs the "{extra}" extra, and {module} is not installed: pip install "bankscore[{extra}]"',
            name=module,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.feature, self.extra, self.module))


class FileFormatError(BankscoreError, ValueError):
    """A file we can't read or write: unknown extension, bad encoding, malformed content, a target held open."""


class KeySourceError(BankscoreError, ValueError):
    """A key can't be read from where it was asked for: a missing or malformed key file, an empty key."""


class ContractError(BankscoreError):
    """The endpoint's swagger can't be fetched or doesn't describe a scoring service we understand."""


@dataclass(frozen=True)
class Problem:
    """One bad cell: where it is, what it holds and what the contract wanted."""

    row: Any
    column: str
    value: Any
    expected: str

    def __str__(self) -> str:
        shown = repr(self.value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        return f"row {self.row}, column {self.column!r}: {shown} (expected {self.expected})"


class InputValidationError(BankscoreError, ValueError):
    """Rows that break the contract, found before anything was sent."""

    max_listed = 10

    def __init__(self, problems: Sequence[Problem], total: int | None = None, hint: str | None = None) -> None:
        self.problems = list(problems)
        self.total = total if total is not None else len(self.problems)
        self.hint = hint
        super().__init__(self._message())

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as cls(*args); ours take the problems, so they survive a trip between processes.
        return (type(self), (self.problems, self.total, self.hint))

    def _message(self) -> str:
        shown = self.problems[: self.max_listed]
        lines = [f"{self.total} problem{'s' if self.total != 1 else ''} in the input:"]
        lines += [f"  - {p}" for p in shown]
        if self.total > len(shown):
            lines.append(f"  ... and {self.total - len(shown)} more")
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)


class APIError(BankscoreError):
    """Something went wrong talking to the endpoint.

    `request_id` is the service's id for the request (its x-ms-request-id / x-request-id header, else the
    correlation id its error body carried); `client_request_id` is the x-ms-client-request-id the client
    sent; `code` is the service's own error code (ARM/Azure ML `code`, an OAuth `error`, a managed
    endpoint's `key_auth_access_denied`), when the body had one; `body` is the body, redacted and bounded.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
        rows: tuple[int, int] | None = None,
        body: Any = None,
        code: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id or correlation_id
        self.client_request_id = client_request_id
        self.rows = rows
        self.body = body
        self.code = code
        self.correlation_id = correlation_id

    def __reduce__(self) -> tuple[Any, ...]:
        context = {
            "status_code": self.status_code,
            "request_id": self.request_id,
            "client_request_id": self.client_request_id,
            "rows": self.rows,
            "body": self.body,
            "code": self.code,
            "correlation_id": self.correlation_id,
        }
        return (_rebuild_api_error, (type(self), self.message, context))

    def __str__(self) -> str:
        parts = [self.message]
        details = []
        if self.status_code is not None:
            details.append(f"HTTP {self.status_code}")
        if self.rows is not None:
            details.append(f"rows {self.rows[0]}–{self.rows[1] - 1}")
        if self.client_request_id:
            details.append(f"x-ms-client-request-id {self.client_request_id}")
        if self.request_id and self.request_id != self.correlation_id:
            details.append(f"x-ms-request-id {self.request_id}")
        if self.correlation_id:
            details.append(f"correlation request {self.correlation_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)


class APIConnectionError(APIError):
    """The request never got an HTTP answer: refused, reset, DNS, TLS."""


class APITimeoutError(APIConnectionError):
    """No answer within the timeout."""


class ResponseDecodeError(APIError):
    """An answer we can't read as scores: an HTML page from a proxy, a truncated body, the wrong count."""


class ModelError(APIError):
    """The service ran the model and it failed: gen-A `{"error": ...}`, gen-B 500 with function-failed, v2 424."""


class APIStatusError(APIError):
    """The endpoint answered with an HTTP error status."""


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    """The key or token was refused: a 401, or a 400/403 whose body says so (ACI's malformed-header 400,
    a token endpoint's `unauthorized_client`, a managed endpoint's `key_auth_*` codes)."""


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class RequestTimeoutError(APIStatusError):
    """408: the endpoint stopped waiting for the model (which may still be running the request); retried."""


class RequestTooLargeError(APIStatusError):
    pass


class RequestHeadersTooLargeError(APIStatusError):
    """431: a header the service won't take (Microsoft's server: request-id headers over 100 characters)."""


class UnsupportedMediaTypeError(APIStatusError):
    pass


class UnprocessableEntityError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    """429: too many requests in flight for the deployment, or the endpoint's rate limit; retried."""


class InternalServerError(APIStatusError):
    pass


class ServiceUnavailableError(InternalServerError):
    pass


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    413: RequestTooLargeError,
    431: RequestHeadersTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return InternalServerError if status >= 500 else APIStatusError


def _rebuild_api_error(cls: type[APIError], message: str, context: dict[str, Any]) -> APIError:
    return cls(message, **context)


class PipelineError(BankscoreError, ValueError):
    """A pipeline URL or run reference bankscore can't use; the message says what a good one looks like."""


class BatchJobError(BankscoreError, ValueError):
    """A batch endpoint URL, input or job reference bankscore can't use; the message says what fits."""


class WaitTimeoutError(BankscoreError, TimeoutError):
    """A run or job was still going when `wait(timeout=...)` ran out; `last` is its last known state."""

    def __init__(self, message: str, last: Any = None) -> None:
        super().__init__(message)
        self.last = last
