"""What the sync and async clients share: options, URLs, headers and the reading of answers.

Only the waiting differs between the two clients (threads vs. tasks, `time.sleep` vs.
`asyncio.sleep`); every decision — is this a result, an error, worth retrying, worth
splitting — is made here once, from the status, headers and body of an answer.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import orjson

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BankscoreError,
    ContractError,
    ModelError,
    ResponseDecodeError,
    status_error_class,
)
from ._throttle import Tally
from ._types import Method, Verify
from ._version import __version__
from .contract import Contract, parse_swagger
from .credentials import Authorizer
from .decoding import DecodeFailure, cut_short, decode
from .encoding import Batch
from .errorbodies import BODY_LIMIT, describe, one_line, redact
from .retry import RetryPolicy, retry_after_header
from .validation import Table

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("bankscore")

ENDPOINT_ENV: Final = "BANKSCORE_ENDPOINT"
USER_AGENT: Final = f"bankscore/{__version__}"

CLIENT_REQUEST_ID_HEADER: Final = "x-ms-client-request-id"
CLIENT_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")
"""The ids that reach a service's logs unchanged: managed online endpoints keep only these characters, and
40 of them (Microsoft's server refuses over 100). Every id the client sends matches it."""


def new_client_request_id() -> str:
    """A fresh x-ms-client-request-id: a UUID4 in its 36-character hyphenated form, as Azure SDKs send it.

    `str(uuid.uuid4())` written out (the same bits and text), without the UUID object a request doesn't need.
    """
    number = int.from_bytes(os.urandom(16), "big") & _UUID4_KEEP | _UUID4_SET
    text = f"{number:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


_UUID4_KEEP: Final = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits uuid.UUID(version=4) sets
_UUID4_SET: Final = (4 << 76) | (0x8000 << 48)


def check_client_request_id(value: str) -> str:
    """`value` if managed endpoints would log it unchanged; else a ValueError that says what they keep."""
    if not CLIENT_REQUEST_ID.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(
            f"{CLIENT_REQUEST_ID_HEADER} {shown!r} would not reach the service's logs unchanged: managed endpoints "
            "keep only letters, digits, '_' and '-', and 40 characters; pick an id like that"
        )
    return value


@dataclass(frozen=True)
class ClientOptions:
    endpoint: str
    timeout: float = 60.0
    max_retries: int | None = 4
    deadline: float | None = 300.0
    patience: float | None = None
    batch_rows: int = 1_000
    max_batch_bytes: int = 4 * 1024 * 1024
    concurrency: int = 4
    model_deployment: str | None = None
    verify: Verify = True
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_policy: RetryPolicy | None = None
    adaptive_concurrency: bool = True

    def __post_init__(self) -> None:
        if self.batch_rows < 1:
            raise ValueError("batch_rows must be >= 1")
        if self.max_batch_bytes < 1024:
            raise ValueError("max_batch_bytes must be at least 1024")
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be > 0")
        if self.client_request_id is not None:
            check_client_request_id(self.client_request_id)
        self.policy()  # an impossible retry budget fails here, where it was given

    @property
    def client_request_id(self) -> str | None:
        """The x-ms-client-request-id given in `headers`, sent on every request instead of a fresh one."""
        if not self.headers:
            return None
        return next((v for k, v in self.headers.items() if k.lower() == CLIENT_REQUEST_ID_HEADER), None)

    def policy(self) -> RetryPolicy:
        """`retry_policy` when given (it wins whole); else the default policy with these three budgets."""
        if self.retry_policy is not None:
            return self.retry_policy
        return RetryPolicy(max_retries=self.max_retries, deadline=self.deadline, patience=self.patience)

    def httpx_kwargs(self) -> dict[str, Any]:
        return {
            "timeout": httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            "limits": httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            "verify": tls_verify(self.verify),
            "headers": {"user-agent": USER_AGENT, **self.headers},
            "follow_redirects": False,
        }

    def changed(self, **changes: Any) -> ClientOptions:
        return replace(self, **changes)


def scoring_uri(endpoint: str | None) -> str:
    """The scoring URI; a base URL gets `/score` appended, as every Azure scoring route ends so."""
    endpoint = endpoint or os.environ.get(ENDPOINT_ENV)
    if not endpoint:
        raise ContractError(f"no endpoint given: pass the scoring URI (…/score) or set {ENDPOINT_ENV}")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ContractError(f"{endpoint!r} is not an http(s) URL; pass the scoring URI, e.g. http://host/score")
    path = parts.path.rstrip("/")
    if not path.endswith("/score"):
        path += "/score"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def swagger_uri(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    base = parts.path[: -len("/score")] if parts.path.endswith("/score") else parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, base + "/swagger.json", "", ""))


def health_uri(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    base = parts.path[: -len("/score")] if parts.path.endswith("/score") else parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, base + "/", "", ""))


SWAGGER_FALLBACK_VERSIONS: Final = ("3", "3.1")
"""Asked for, in this order, when the default (Swagger 2.0) document is missing: OpenAPI 3.0, then 3.1."""

_SUPPORTED_VERSIONS = re.compile(r"[Ss]upported (?:swagger )?versions: \[([^\]]*)\]")

SwaggerDiscovery = Generator[str, "httpx.Response | httpx.HTTPError", Contract]
DocumentDiscovery = Generator[str, "httpx.Response | httpx.HTTPError", dict[str, Any]]


def discover_swagger(url: str) -> SwaggerDiscovery:
    """Find the contract the way Microsoft's server offers it (`discover_document`), and read it."""
    document = yield from discover_document(url)
    return parse_swagger(document)


def discover_document(url: str) -> DocumentDiscovery:
    """Find the swagger document the way Microsoft's server offers it, free of I/O so both clients share it.

    Yields each URL to GET and receives its answer (or the httpx error). The default document is
    Swagger 2.0; a script whose input Swagger 2.0 can't describe (a row mixing numbers and text, as
    MLflow's `input_data` does) has none, and the server answers 404 naming the versions it has
    ("Supported swagger versions: [3, 3.1]"). Then `?version=3` and `?version=3.1` (or what the
    404 lists) are asked in turn. A URL that already names a version is asked alone.
    """
    answer = yield url
    if isinstance(answer, httpx.HTTPError):
        raise swagger_fetch_error(url, answer)
    if answer.status_code != 404 or "version" in parse_qs(urlsplit(url).query):
        return document_from_response(url, answer)  # the document, or an error that another version won't mend
    first = answer
    tried = []
    for version in _fallback_versions(answer.content):
        candidate = _with_version(url, version)
        reply = yield candidate
        if isinstance(reply, httpx.HTTPError):
            raise swagger_fetch_error(candidate, reply)
        if reply.status_code == 200:
            return document_from_response(candidate, reply)
        tried.append(f"?version={version} HTTP {reply.status_code}")
    also = f" (also tried {', '.join(tried)})" if tried else ""
    raise ContractError(
        f"GET {url} answered HTTP 404: {_preview(first.content)}{also}; the service publishes no swagger "
        "(a score script without schema decorators has none): pass swagger=PATH to a saved swagger.json"
    )


def _fallback_versions(body: bytes) -> list[str]:
    """The OpenAPI versions a 404 names as supported, or 3 then 3.1 when it names none."""
    match = _SUPPORTED_VERSIONS.search(body.decode("utf-8", "replace"))
    if match is None:
        return list(SWAGGER_FALLBACK_VERSIONS)
    listed = [v.strip().strip("'\"") for v in match.group(1).split(",")]
    return [v for v in listed if v and v not in ("2", "2.0")]


def _with_version(url: str, version: str) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("version", version)])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def swagger_from_response(url: str, response: httpx.Response) -> Contract:
    return parse_swagger(document_from_response(url, response))


def document_from_response(url: str, response: httpx.Response) -> dict[str, Any]:
    """The swagger document a 200 holds (a JSON object), or the error the answer means."""
    if response.status_code == 401:  # asked again with the key or token, and still refused: that is the problem
        said = describe(401, response.headers, response.content)
        raise AuthenticationError(
            f"GET {url} refused the credentials: {said.message}", status_code=401, body=said.text, code=said.code
        )
    if response.status_code != 200:
        raise ContractError(
            f"GET {url} answered HTTP {response.status_code}: {_preview(response.content)}; "
            "pass swagger=PATH to a saved swagger.json"
        )
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise ContractError(f"GET {url} did not answer JSON: {_preview(response.content)}") from None
    if not isinstance(document, dict):
        raise ContractError(f"GET {url} answered {type(document).__name__}, not a swagger object")
    return document


def swagger_fetch_error(url: str, exc: httpx.HTTPError) -> ContractError:
    return ContractError(
        f"can't fetch the swagger from {url}: {type(exc).__name__}: {exc or 'no answer'}; "
        "check the endpoint, or pass swagger=PATH to a saved swagger.json"
    )


def request_headers(
    authorization: str | None, model_deployment: str | None, client_request_id: str | None = None
) -> tuple[dict[str, str], str]:
    """The headers of one /score request and its x-ms-client-request-id (a fresh one unless given)."""
    client_request_id = check_client_request_id(client_request_id) if client_request_id else new_client_request_id()
    headers = {"content-type": "application/json", CLIENT_REQUEST_ID_HEADER: client_request_id}
    if authorization:
        headers["authorization"] = authorization
    if model_deployment:
        headers["azureml-model-deployment"] = model_deployment
    return headers, client_request_id


def tls_verify(verify: Verify) -> Any:
    """True (system CAs), False (no check, explicit), or a CA bundle file or directory to trust."""
    if isinstance(verify, bool | ssl.SSLContext):
        return verify
    path = Path(verify)
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise BankscoreError(f"the CA bundle {path} can't be used ({exc}); give a PEM file or directory") from None


@dataclass(frozen=True)
class PreparedRequest:
    """One /score request built by the client, for tools that send it themselves (a load generator).

    The headers hold the key, so they are left out of the repr.
    """

    url: str
    body: bytes = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    rows: int
    method: str = "predict"


_READ_HEADERS: Final = (
    "x-ms-request-id", "x-request-id", "x-ms-run-function-failed", "retry-after", "retry-after-ms",
    "x-ms-retry-after-ms", "content-type", "content-length", "content-encoding", "location",
    "ms-azureml-model-error-statuscode", "ms-azureml-model-error-reason", "x-ms-client-request-id",
)  # fmt: skip


def read_scores(
    status_code: int,
    body: bytes,
    rows: int,
    headers: Mapping[str, Any] | None = None,
    *,
    secrets: Sequence[str] = (),
) -> list[Any]:
    """The results of a /score answer received elsewhere, judged as the client judges its own.

    Raises the client's APIError subclass for anything but one result per row sent: a non-2xx
    status, a 200 carrying a model error, a body that isn't scores, the wrong number of results.
    `secrets` (the key sent) are redacted from the error, as are Bearer tokens the body echoes.
    """
    kept: dict[str, str] = {}
    for name in _READ_HEADERS:  # any mapping will do (HTTP clients differ); only these headers matter
        value = headers.get(name) if headers is not None else None
        if isinstance(value, list | tuple):
            value = value[0] if value else None
        if value is not None:
            kept[name] = str(value)
    response = httpx.Response(status_code, content=body, headers=kept)
    sent_id = kept.get(CLIENT_REQUEST_ID_HEADER, "")  # the service's echo of the id it was sent
    outcome = interpret(response, Batch(0, rows), sent_id, RetryPolicy(max_retries=0), secrets)
    if outcome.results is None:
        assert outcome.error is not None
        raise outcome.error
    return outcome.results


@dataclass
class Outcome:
    """How one answer reads: results, or an error and whether trying again could help."""

    results: list[Any] | None = None
    error: APIError | None = None
    retryable: bool = False
    retry_after: str | None = None
    split: bool = False
    unauthorized: bool = False


def interpret(
    response: httpx.Response,
    batch: Batch,
    client_request_id: str,
    policy: RetryPolicy,
    secrets: Sequence[str] = (),
    decode_answer: Decode = decode,
) -> Outcome:
    """How an answer reads: results, or the error it means, whether another try could help, and how soon.

    `secrets` (the key sent) never reach the error: they are redacted from the message and the body.
    """
    status = response.status_code
    context: dict[str, Any] = {
        "status_code": status,
        "request_id": response.headers.get("x-ms-request-id") or response.headers.get("x-request-id"),
        "client_request_id": client_request_id,
        "rows": (batch.start, batch.stop),
    }
    body = response.content
    if status == 200:
        try:
            return Outcome(results=decode_answer(body, batch.size))
        except DecodeFailure as failure:
            return _unreadable_200(response, failure, context, secrets)
    said = describe(status, response.headers, body, secrets, _reason_phrase(response))
    context.update(body=said.text, code=said.code, correlation_id=said.correlation_id)
    if status == 424 or (status >= 500 and response.headers.get("x-ms-run-function-failed", "").lower() == "true"):
        message = said.message if status == 424 else f"the model failed: {said.message}"
        return Outcome(error=ModelError(message, **context))
    error_class = status_error_class(status)
    if said.auth_failure and status < 500:  # ACI's malformed-header 400, OAuth's unauthorized_client, key_auth_*
        error_class = AuthenticationError
    status_error: APIStatusError = error_class(said.message, **context)
    return Outcome(
        error=status_error,
        retryable=policy.retryable_status(status),
        retry_after=retry_after_header(response.headers),
        split=status == 413 and batch.size > 1,
        unauthorized=status == 401,
    )


def _unreadable_200(
    response: httpx.Response, failure: DecodeFailure, context: dict[str, Any], secrets: Sequence[str]
) -> Outcome:
    """A 200 that isn't scores: retried only when its body was cut off on the way, judged from the body itself."""
    body = response.content
    text = redact(body[:BODY_LIMIT].decode("utf-8", "replace"), secrets)
    cut = cut_short(body, _declared_length(response))
    if cut is not None:
        error = ResponseDecodeError(f"the answer was cut off on the way: {cut}", body=text, **context)
        return Outcome(error=error, retryable=True)
    message = one_line(redact(str(failure), secrets))
    error_class = ModelError if failure.model_error else ResponseDecodeError
    return Outcome(error=error_class(message, body=text, **context))


def _declared_length(response: httpx.Response) -> int | None:
    """Content-Length, when it counts the bytes in `response.content` (not a compressed transfer's)."""
    if response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity"):
        return None
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _reason_phrase(response: httpx.Response) -> str | None:
    """The status line's own words, when the server sent some (HTTP/2 has none)."""
    phrase = response.extensions.get("reason_phrase")
    return phrase.decode("latin-1", "replace") if isinstance(phrase, bytes) and phrase else None


def _preview(body: bytes, limit: int = 200) -> str:
    text = " ".join(body[:limit].decode("utf-8", "replace").split())
    return text + ("…" if len(body) > limit else "")


def log_retry(batch: Batch, attempt: int, error: APIError, wait: float) -> None:
    logger.info(
        "rows %d-%d: attempt %d failed (%s); retrying in %.2f s",
        batch.start,
        batch.stop - 1,
        attempt,
        _short(error),
        wait,
    )


def _short(error: APIError) -> str:
    if error.status_code is not None:
        return f"HTTP {error.status_code}"
    return type(error).__name__


def to_series(table: Table, results: list[Any]) -> pd.Series[Any]:
    import pandas as pd

    if len(results) == 1 and len(table.index) == 1:
        template = _one_label_array(results[0])
        if template is not None:  # inferring a dtype costs more than a single-row request: once per label
            return _series_of(template.copy(), table.index)
    return pd.Series(results, index=table.index, name="prediction")


def _series_of(values: Any, index: pd.Index) -> pd.Series[Any]:
    """`pd.Series(values, index=index, name="prediction")` of values already in the form a Series keeps, put
    together as pandas' own methods put their results together (its manager, then `_from_mgr`), without the
    constructor's checks and conversions: after a request, the code it runs costs several times what it does in
    a loop. The constructor where this pandas has no such parts."""
    import pandas as pd

    parts = _pandas_parts()
    if parts is None:
        return pd.Series(values, index=index, name="prediction", copy=False)
    manager = parts[1].from_array(values, index)
    series: pd.Series[Any] = pd.Series._from_mgr(manager, manager.axes)  # type: ignore[attr-defined]
    object.__setattr__(series, "_name", "prediction")  # what `series.name = ...` stores once it has checked it
    return series


_PARTS: list[Any] = []


def _pandas_parts() -> tuple[Any, Any] | None:
    """pandas' option store and its SingleBlockManager, looked up once (a `from` import runs Python code each
    time); None when this pandas keeps them elsewhere."""
    if not _PARTS:
        import pandas as pd

        try:
            from pandas._config import config
            from pandas.core.internals import SingleBlockManager  # type: ignore[import-not-found]

            found: tuple[Any, Any] | None = (config._global_config, SingleBlockManager)  # type: ignore[attr-defined]
        except (ImportError, AttributeError):
            found = None
        if not (
            "_name" in getattr(pd.Series, "_metadata", ())
            and callable(getattr(pd.Series, "_from_mgr", None))
            and callable(getattr(found and found[1], "from_array", None))
        ):
            found = None
        _PARTS.append(found)
    parts: tuple[Any, Any] | None = _PARTS[0]
    return parts


_ONE_LABEL_ARRAYS: dict[Any, Any] = {}
_ONE_LABEL_ARRAYS_MAX: Final = 256
_KEYED_LABELS: Final = frozenset({str, int, bool, type(None)})


def _one_label_array(label: Any) -> Any:
    """The values `pd.Series([label])` infers (as it keeps them) under the pandas options now in force; None for
    labels of other kinds.

    Keyed by the label's type and value (a float by its repr: -0.0 and NaN stay themselves) and by pandas'
    `future` and `mode` options, which decide what the inference gives (str or object, the string storage).
    """
    kind = type(label)
    if kind in _KEYED_LABELS:
        value: Any = label
    elif kind is float:
        value = repr(label)
    else:
        return None
    options = _pandas_options()
    if options is None:
        return None
    key = (kind, value, options)
    template = _ONE_LABEL_ARRAYS.get(key)
    if template is None:
        import pandas as pd

        if len(_ONE_LABEL_ARRAYS) >= _ONE_LABEL_ARRAYS_MAX:
            _ONE_LABEL_ARRAYS.clear()
        template = _ONE_LABEL_ARRAYS[key] = pd.Series([label])._values  # an ndarray, or the extension array
    return template


def _pandas_options() -> tuple[Any, ...] | None:
    """pandas' `future` and `mode` options as a hashable snapshot; None when they can't be read so."""
    parts = _pandas_parts()
    if parts is None:
        return None
    options = parts[0]
    try:
        snapshot = (tuple(options["future"].items()), tuple(options["mode"].items()))
        hash(snapshot)
    except Exception:  # another pandas keeps its options otherwise: no shortcut
        return None
    return snapshot


def to_frame(table: Table, results: list[Any], contract: Contract) -> pd.DataFrame:
    import pandas as pd

    if not results:
        return pd.DataFrame(index=table.index, columns=contract.proba_columns(2), dtype="float64")
    width = len(results[0]) if isinstance(results[0], list) else 0
    if not width:
        raise ResponseDecodeError(
            "the endpoint answered predict_proba with labels, not per-class probabilities; "
            "does this service support predict_proba?"
        )
    return pd.DataFrame(results, index=table.index, columns=contract.proba_columns(width), dtype="float64")


def check_method(contract: Contract, method: Method) -> None:
    if method == "predict_proba" and not contract.supports_proba:
        raise ContractError(f"this endpoint's contract ({contract.envelope}) has no predict_proba method; use predict")
    if method == "explain" and contract.explain is None and contract.envelope == "mlflow":
        raise ContractError(
            "this endpoint (an MLflow input_data contract) can't explain rows: it supports predict only. "
            "Explanations come from bankscore serve (method explain) or an AutoML v1 explainer deployment"
        )


@dataclass(frozen=True)
class Send:
    """Step: POST the batch body with these headers, then send back the response (or the httpx error)."""

    headers: dict[str, str]


@dataclass(frozen=True)
class Authorize:
    """Step: the credential's token is due; fetch it (`refresh` or `refresh_async`), then carry on."""


@dataclass(frozen=True)
class Sleep:
    """Step: wait this long, then carry on."""

    seconds: float


Attempts = Generator[Send | Sleep | Authorize, httpx.Response | httpx.HTTPError | None, Outcome]


Decode = Callable[[bytes, int], list[Any]]
"""Reads a 200's body into one result per row sent (`decoding.decode`; explanations have their own)."""


def attempts(
    batch: Batch,
    credential: Authorizer,
    options: ClientOptions,
    policy: RetryPolicy,
    tally: Tally,
    decode_answer: Decode = decode,
) -> Attempts:
    """Every retry decision for one request body, free of I/O so both clients drive the same logic.

    `tally` is the client's shared count: it learns of successes and retries, and tells when any batch
    last succeeded, which the policy's patience is measured from.
    Returns the final Outcome: results, or a split order for a 413. Raises the APIError that ends it.
    A 401 is retried once with a new credential (the secondary key, or a freshly fetched token).
    """
    started = time.monotonic()
    attempt = 0
    reauthorized = False
    while True:
        attempt += 1
        if credential.stale():
            yield Authorize()
        authorization = credential.authorization()
        headers, client_request_id = request_headers(authorization, options.model_deployment, options.client_request_id)
        reply = yield Send(headers)
        if isinstance(reply, httpx.Response):
            outcome = _scores(reply, batch, decode_answer) or interpret(
                reply, batch, client_request_id, policy, _secrets(credential, options), decode_answer
            )
        else:
            outcome = _transport_outcome(reply, batch, client_request_id)
        if outcome.results is not None:
            tally.succeeded(batch.size)
            return outcome
        if outcome.split:
            return outcome
        assert outcome.error is not None
        if outcome.unauthorized and not reauthorized and credential.rejected(authorization):
            reauthorized = True
            logger.info(
                "rows %d-%d: attempt %d refused (HTTP 401); trying once more with %s",
                batch.start,
                batch.stop - 1,
                attempt,
                "a new token" if credential.stale() else "the other key",
            )
            continue
        if not outcome.retryable:
            raise outcome.error
        now = time.monotonic()
        patience_left = _patience_left(policy, tally, now)
        if patience_left is not None and patience_left <= 0:
            raise _out_of_patience(outcome.error, policy, attempt)
        wait = policy.next_delay(attempt, started, outcome.retry_after, now)
        if wait is None:
            raise _gave_up(outcome.error, attempt)
        if patience_left is not None:
            wait = min(wait, patience_left)  # wake when patience runs out, to give up then, not later
        log_retry(batch, attempt, outcome.error, wait)
        tally.retried()
        yield Sleep(wait)
        patience_left = _patience_left(policy, tally, time.monotonic())
        if patience_left is not None and patience_left <= 0:
            raise _out_of_patience(outcome.error, policy, attempt)


def _scores(response: httpx.Response, batch: Batch, decode_answer: Decode) -> Outcome | None:
    """The Outcome `interpret` gives a 200 that holds scores, without its error context; None for any other answer."""
    if response.status_code != 200:
        return None
    try:
        return Outcome(results=decode_answer(response.content, batch.size))
    except DecodeFailure:
        return None  # `interpret` reads it again and says why


def _patience_left(policy: RetryPolicy, tally: Tally, now: float) -> float | None:
    """Seconds until the job's patience runs out (no batch succeeding meanwhile); None when it has none."""
    if policy.patience is None:
        return None
    return tally.progress_since() + policy.patience - now


def _out_of_patience(error: APIError, policy: RetryPolicy, attempts: int) -> APIError:
    error.message = (
        f"{error.message} — no batch has succeeded for {policy.patience:g} s (the job's patience); "
        f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}"
    )
    return error


def _secrets(credential: Authorizer, options: ClientOptions) -> tuple[str, ...]:
    """What an error must never show: the keys, and any Authorization the caller set in `headers` itself."""
    given = [v for k, v in options.headers.items() if k.lower() == "authorization"]
    tokens = [v.split(None, 1)[-1] for v in given if v.strip()]
    return (*credential.secrets(), *tokens)


def _transport_outcome(exc: httpx.HTTPError | None, batch: Batch, client_request_id: str) -> Outcome:
    context: dict[str, Any] = {"client_request_id": client_request_id, "rows": (batch.start, batch.stop)}
    if isinstance(exc, httpx.TimeoutException):
        return Outcome(error=APITimeoutError(f"no answer in time ({type(exc).__name__})", **context), retryable=True)
    detail = (str(exc) or type(exc).__name__) if exc is not None else "no answer"
    # Everything httpx raises here is transport-level (refused, reset, truncated): none got an answer.
    return Outcome(error=APIConnectionError(f"connection failed: {detail}", **context), retryable=True)


def _gave_up(error: APIError, attempts: int) -> APIError:
    error.message = f"{error.message} — gave up after {attempts} attempt{'s' if attempts > 1 else ''}"
    return error
