"""ScoringClient and AsyncScoringClient: validated, batched, concurrent, retried scoring calls.

The data path reads in order: contract → validate → encode → batch → send → retry → decode.
Both clients make the same decisions (in `_base_client`); they differ only in how they wait.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Self, TypedDict

import httpx
from pydantic import BaseModel

from ._base_client import (
    Authorize,
    ClientOptions,
    Decode,
    Outcome,
    PreparedRequest,
    Sleep,
    attempts,
    check_method,
    discover_document,
    health_uri,
    request_headers,
    scoring_uri,
    swagger_uri,
    to_frame,
    to_series,
)
from ._exceptions import (
    APIError,
    BadRequestError,
    ContractError,
    NotFoundError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)
from ._throttle import Answer, AsyncThrottle, ClientStats, ThreadThrottle, Throttle, read_answer
from ._types import (
    NOT_GIVEN,
    AsyncTokenCredential,
    ExtraColumns,
    Method,
    NotGiven,
    OnError,
    Progress,
    SwaggerSource,
    TokenCredential,
    Verify,
)
from .contract import Contract, load_swagger_file, parse_swagger
from .credentials import ML_SCOPE, Authorizer, TokenAuth, authorizer, check_token_transport
from .decoding import decode as decode_results
from .encoding import Batch, encode, encode_batch, plan_batches
from .explanations import decoder as explanation_decoder
from .explanations import explained_features, not_an_explainer, positive_class, to_explanation_frame
from .retry import RetryPolicy
from .rowmodel import build_row_model
from .validation import Table, to_table

if TYPE_CHECKING:
    import pandas as pd

    from ._types import Rows


class ScoringOptions(TypedDict, total=False):
    """The client's keyword options, for code that passes them along typed: `**options: Unpack[ScoringOptions]`."""

    key: str | None
    secondary_key: str | None
    key_file: str | Path | None
    credential: TokenCredential | AsyncTokenCredential | TokenAuth | None
    scope: str
    swagger: SwaggerSource | Contract
    timeout: float
    max_retries: int | None
    deadline: float | None
    patience: float | None
    batch_rows: int
    max_batch_bytes: int
    concurrency: int
    model_deployment: str | None
    verify: Verify
    headers: Mapping[str, str] | None
    retry_policy: RetryPolicy | None
    adaptive_concurrency: bool


class _ClientBase:
    """What both clients share: typed options, the key, the contract source, request preparation."""

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        key: str | None = None,
        secondary_key: str | None = None,
        key_file: str | Path | None = None,
        credential: TokenCredential | AsyncTokenCredential | TokenAuth | None = None,
        scope: str = ML_SCOPE,
        swagger: SwaggerSource | Contract = None,
        timeout: float = 60.0,
        max_retries: int | None = 4,
        deadline: float | None = 300.0,
        patience: float | None = None,
        batch_rows: int = 1_000,
        max_batch_bytes: int = 4 * 1024 * 1024,
        concurrency: int = 4,
        model_deployment: str | None = None,
        verify: Verify = True,
        headers: Mapping[str, str] | None = None,
        retry_policy: RetryPolicy | None = None,
        adaptive_concurrency: bool = True,
    ) -> None:
        """Connect to `endpoint` (the scoring URI; default `$BANKSCORE_ENDPOINT`).

        The key comes from `key`/`secondary_key`, else `key_file`, else `$BANKSCORE_KEY` (and
        `$BANKSCORE_SECONDARY_KEY`, `$BANKSCORE_KEY_FILE`). An endpoint in `aad_token` mode takes
        `credential` instead: any azure-core TokenCredential (azure-identity's `DefaultAzureCredential()`...),
        asked for `scope` (Azure ML's data plane by default); tokens go only over https, or plain http to
        loopback. `swagger` is where the contract comes from:
        a URL, a saved swagger.json, a parsed document or a `Contract`; default `<endpoint base>/swagger.json`.

        Transient failures are retried within three budgets: `max_retries` per request body (None: no count
        limit), `deadline` seconds from a body's first attempt, and `patience` seconds without any batch of
        this client succeeding (None: no such limit) — for long jobs, `max_retries=None` with a patience.
        `retry_policy` replaces all three (and the backoff) when given. Up to `concurrency` requests are in
        flight; with `adaptive_concurrency` that limit halves on 429/503 and grows back on success, and
        a Retry-After pauses every sender (see `stats`).
        """
        options = ClientOptions(
            endpoint=scoring_uri(endpoint),
            timeout=timeout,
            max_retries=max_retries,
            deadline=deadline,
            patience=patience,
            batch_rows=batch_rows,
            max_batch_bytes=max_batch_bytes,
            concurrency=concurrency,
            model_deployment=model_deployment,
            verify=verify,
            headers=dict(headers or {}),
            retry_policy=retry_policy,
            adaptive_concurrency=adaptive_concurrency,
        )
        authorizer = _authorizer(options.endpoint, key, secondary_key, key_file, credential, scope)
        self._setup(options, authorizer, swagger, swagger if isinstance(swagger, Contract) else None)

    def _setup(
        self,
        options: ClientOptions,
        credential: Authorizer,
        swagger: SwaggerSource | Contract,
        contract: Contract | None,
    ) -> None:
        self._options = options
        self._credential = credential
        self._swagger = swagger
        self._contract = contract
        self._row_model: type[BaseModel] | None = None
        self._policy = options.policy()
        self._open()

    _throttle: ThreadThrottle | AsyncThrottle

    def _open(self) -> None:
        """Create the HTTP client (sync or async) and the throttle its senders share."""
        raise NotImplementedError

    def with_options(
        self,
        *,
        timeout: float | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven | None = NOT_GIVEN,
        deadline: float | NotGiven | None = NOT_GIVEN,
        patience: float | NotGiven | None = NOT_GIVEN,
        batch_rows: int | NotGiven = NOT_GIVEN,
        max_batch_bytes: int | NotGiven = NOT_GIVEN,
        concurrency: int | NotGiven = NOT_GIVEN,
        model_deployment: str | NotGiven | None = NOT_GIVEN,
        verify: Verify | NotGiven = NOT_GIVEN,
        headers: Mapping[str, str] | NotGiven = NOT_GIVEN,
        retry_policy: RetryPolicy | NotGiven | None = NOT_GIVEN,
        adaptive_concurrency: bool | NotGiven = NOT_GIVEN,
    ) -> Self:
        """A new client with some options changed, sharing this one's endpoint, key and contract.

        It has its own connections and its own concurrency limit and `stats`: close it (or use it in a
        `with` block) as you would this one.
        """
        given = {
            "timeout": timeout,
            "max_retries": max_retries,
            "deadline": deadline,
            "patience": patience,
            "batch_rows": batch_rows,
            "max_batch_bytes": max_batch_bytes,
            "concurrency": concurrency,
            "model_deployment": model_deployment,
            "verify": verify,
            "headers": headers if isinstance(headers, NotGiven) else dict(headers),
            "retry_policy": retry_policy,
            "adaptive_concurrency": adaptive_concurrency,
        }
        changes = {name: value for name, value in given.items() if not isinstance(value, NotGiven)}
        clone = type(self).__new__(type(self))
        clone._setup(self._options.changed(**changes), self._credential, self._swagger, self._contract)
        return clone

    @property
    def endpoint(self) -> str:
        return self._options.endpoint

    @property
    def contract(self) -> Contract:
        raise NotImplementedError

    @property
    def options(self) -> ClientOptions:
        return self._options

    @property
    def stats(self) -> ClientStats:
        """A snapshot of what this client has sent and how it is pacing itself, for progress displays."""
        return self._throttle.stats()

    def _throttle_state(self) -> Throttle:
        return Throttle(self._options.concurrency, adaptive=self._options.adaptive_concurrency)

    @staticmethod
    def _decoder(contract: Contract, method: Method, features: Sequence[str] | None = None) -> Decode:
        """How a 200 reads: one result per row, or for explain one RowExplanation per row naming `features`
        (default: the contract's)."""
        if method != "explain":
            return decode_results
        return explanation_decoder(contract, explained_features(contract) if features is None else features)

    def _contract_from_source(self) -> Contract | None:
        """The contract when it needs no network: a dict or a file; None means fetch it."""
        document = self._document_from_source()
        return None if document is None else parse_swagger(document)

    def _document_from_source(self) -> dict[str, Any] | None:
        """The swagger document when it needs no network (a copy of a dict, or a file); None means fetch it."""
        source = self._swagger
        if isinstance(source, Contract):
            raise ContractError(
                "this client was given a Contract, which keeps no swagger document; "
                "pass swagger= a document, a saved swagger.json or its URL to get one"
            )
        if isinstance(source, Mapping):
            return copy.deepcopy(dict(source))
        if isinstance(source, Path) or (isinstance(source, str) and not source.startswith(("http://", "https://"))):
            return load_swagger_file(source)
        return None

    def _swagger_url(self) -> str:
        source = self._swagger
        return source if isinstance(source, str) else swagger_uri(self.endpoint)

    def _table(self, rows: Rows, extra_columns: ExtraColumns, contract: Contract) -> Table:
        return to_table(rows, contract, extra_columns=extra_columns)

    def prepare(
        self, rows: Rows, method: Method = "predict", *, extra_columns: ExtraColumns = "error"
    ) -> PreparedRequest:
        """Validate and encode `rows` into one request exactly as the client would send it, without sending it.

        For tools that send requests themselves (the load tests); `read_scores` judges the answer.
        """
        contract = self.contract
        check_method(contract, method)
        table = self._table(rows, extra_columns, contract)
        if self._credential.stale():
            self._credential.refresh()  # a token for the headers (sync credentials only: this call is sync)
        headers, _ = request_headers(self._credential.authorization(), self._options.model_deployment)
        headers.pop("x-ms-client-request-id")  # one per request sent: the sender adds its own
        return PreparedRequest(self.endpoint, encode(table, contract, method), headers, table.n_rows, method)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, credential={self._credential!r})"


def _authorizer(
    endpoint: str,
    key: str | None,
    secondary_key: str | None,
    key_file: str | Path | None,
    credential: TokenCredential | AsyncTokenCredential | TokenAuth | None,
    scope: str,
) -> Authorizer:
    """The key or the token source the client sends; a token only over TLS or to this machine."""
    auth = authorizer(credential, scope, key=key, secondary_key=secondary_key, key_file=key_file)
    if isinstance(auth, TokenAuth):
        check_token_transport(endpoint)
    return auth


_EXPLAIN_REFUSALS: Final = (BadRequestError, NotFoundError, UnprocessableEntityError, UnsupportedMediaTypeError)
"""How a service that is no AutoML explainer turns the explainer's bare-records request away."""


def _can_authorize(credential: Authorizer) -> bool:
    """True when a 401 is worth one more try with credentials (a key is set, or tokens can be fetched)."""
    return credential.stale() or credential.authorization() is not None


class _Stopped(Exception):
    """Internal: a sender thread stops because the call it works for is over."""


class ScoringClient(_ClientBase):
    """Score rows against an Azure ML endpoint (or the embedded one) from synchronous code.

    >>> with ScoringClient("http://127.0.0.1:5001/score") as client:   # doctest: +SKIP
    ...     labels = client.predict(frame)
    """

    def _open(self) -> None:
        if isinstance(self._credential, TokenAuth) and self._credential.is_async:
            raise TypeError(
                f"{type(self._credential.credential).__name__} is an async credential (azure.identity.aio): "
                "use AsyncScoringClient, or the sync credential of the same name (azure.identity)"
            )
        self._http = httpx.Client(**self._options.httpx_kwargs())
        # The module's clock and sleep, looked up at each call, so tests that record waits record these too.
        self._throttle = ThreadThrottle(
            self._throttle_state(), clock=lambda: time.monotonic(), sleep=lambda seconds: time.sleep(seconds)
        )

    # -------------------------------------------------------------------------------- contract

    @property
    def contract(self) -> Contract:
        if self._contract is None:
            self._contract = self._contract_from_source() or self._fetch_contract()
        return self._contract

    def _fetch_contract(self) -> Contract:
        return parse_swagger(self._fetch_document())

    def swagger(self) -> dict[str, Any]:
        """The endpoint's swagger document as published, found as the contract is (`swagger=`, else
        `<endpoint base>/swagger.json` with the OpenAPI-3 fallback), checked to be a scoring service's.

        For tools that show or rewrite the document itself (`bankscore docs`); fetched anew on each call, so a
        retrained model's document shows. Raises ContractError as `contract` does.
        """
        document = self._document_from_source() or self._fetch_document()
        parse_swagger(document)
        return document

    def _fetch_document(self) -> dict[str, Any]:
        steps = discover_document(self._swagger_url())
        url = next(steps)
        while True:
            answer: httpx.Response | httpx.HTTPError
            try:
                answer = self._get(url)
            except httpx.HTTPError as exc:
                answer = exc
            try:
                url = steps.send(answer)
            except StopIteration as done:
                document: dict[str, Any] = done.value
                return document

    @property
    def row_model(self) -> type[BaseModel]:
        if self._row_model is None:
            self._row_model = build_row_model(self.contract)
        return self._row_model

    def health(self) -> bool:
        """True when `GET /` answers 200 (Azure's health route)."""
        try:
            return self._get(health_uri(self.endpoint)).status_code == 200
        except httpx.HTTPError:
            return False

    def _get(self, url: str) -> httpx.Response:
        """GET a route that is often open (swagger, health): with credentials only when it answers 401."""
        answer = self._http.get(url)
        for _ in range(2):  # with the credential; once more with a new one if that is refused
            if answer.status_code != 401 or not _can_authorize(self._credential):
                break
            if self._credential.stale():
                self._credential.refresh()
            authorization = self._credential.authorization()
            answer = self._http.get(url, headers={"authorization": authorization or ""})
            if answer.status_code != 401 or not self._credential.rejected(authorization):
                break
        return answer

    # -------------------------------------------------------------------------------- scoring

    def predict(
        self, rows: Rows, *, extra_columns: ExtraColumns = "error", progress: Progress | None = None
    ) -> pd.Series[Any]:
        """One label per row, aligned to a DataFrame's index."""
        table = self._table(rows, extra_columns, self.contract)
        return to_series(table, self._score(table, "predict", progress))

    def predict_proba(
        self, rows: Rows, *, extra_columns: ExtraColumns = "error", progress: Progress | None = None
    ) -> pd.DataFrame:
        """One probability column per class, aligned to a DataFrame's index."""
        contract = self.contract
        check_method(contract, "predict_proba")
        table = self._table(rows, extra_columns, contract)
        return to_frame(table, self._score(table, "predict_proba", progress), contract)

    def explain(
        self,
        rows: Rows,
        top: int = 3,
        *,
        features: Sequence[str] | None = None,
        extra_columns: ExtraColumns = "error",
        progress: Progress | None = None,
    ) -> pd.DataFrame:
        """Why each row is scored as it is: a DataFrame aligned to the input's index.

        Columns: `prediction`, `proba_<positive class>`, `base_value_log_odds`, one contribution per input column
        (named as the column; log-odds: base + Σ contributions = logit P), and `reason_1..reason_<top>`, the largest
        contributions as text (`duration = 1,260 s (+2.31)`). From bankscore's endpoint (method explain) or an
        AutoML explainer deployment, whose features are the contract's columns or `features=` (its answer has no
        P(positive) or base value: those columns are NaN).
        """
        contract = self.contract
        check_method(contract, "explain")
        table = self._table(rows, extra_columns, contract)
        names = tuple(features) if features is not None else explained_features(contract)
        try:
            results = self._score(table, "explain", progress, decode=self._decoder(contract, "explain", names))
        except _EXPLAIN_REFUSALS as exc:
            if contract.explain is not None:
                raise
            raise not_an_explainer(contract, self.endpoint, exc) from None
        return to_explanation_frame(table, results, names, positive_class(contract), top)

    def score_table(
        self, table: Table, method: Method = "predict", progress: Progress | None = None, *, on_error: OnError = "raise"
    ) -> list[Any]:
        """Score a validated Table (from `bankscore.validation.to_table`); results in row order.

        With on_error="return", a batch that fails for good puts its APIError in each of its rows
        instead of stopping the whole job.
        """
        contract = self.contract
        check_method(contract, method)
        return self._score(table, method, progress, on_error, self._decoder(contract, method))

    def _score(
        self,
        table: Table,
        method: Method,
        progress: Progress | None,
        on_error: OnError = "raise",
        decode: Decode = decode_results,
    ) -> list[Any]:
        batches = _plan(table, self.contract, self._options)
        if len(batches) == 1:  # one batch (one row): no other sender to stop, no pool
            return self._score_one(table, batches[0], method, progress, on_error, decode)
        return self._score_batches(table, batches, method, progress, on_error, decode)

    def _score_batches(
        self,
        table: Table,
        batches: list[Batch],
        method: Method,
        progress: Progress | None,
        on_error: OnError,
        decode: Decode,
    ) -> list[Any]:
        done = 0

        failed = threading.Event()  # a batch failed for good: the call is over, send nothing more

        def run(batch: Batch) -> list[Any]:
            nonlocal done
            if failed.is_set():
                return []
            try:
                results = self._send_batch(table, batch, method, failed, decode)
            except _Stopped:
                return []
            except APIError as error:
                if on_error == "raise":
                    failed.set()
                    raise
                results = [error] * batch.size
            if progress is not None:
                done += batch.size  # read-modify-write under the GIL; progress is advisory
                progress(done, table.n_rows)
            return results

        self._throttle.job_started()
        try:
            if len(batches) == 1 or self._options.concurrency == 1:
                parts: Iterator[list[Any]] = map(run, batches)
                return [r for part in parts for r in part]
            pool = ThreadPoolExecutor(self._options.concurrency, thread_name_prefix="bankscore")
            interrupted = False
            try:
                return [r for part in pool.map(run, batches) for r in part]
            except BaseException as exc:
                failed.set()  # the senders stop before their next attempt or wait
                interrupted = not isinstance(exc, APIError)  # Ctrl-C: don't wait for requests on the wire
                raise
            finally:  # after a batch failed for good, the ones not yet started are not sent at all
                pool.shutdown(wait=not interrupted, cancel_futures=True)
        finally:
            self._throttle.job_finished()

    def _score_one(
        self, table: Table, batch: Batch, method: Method, progress: Progress | None, on_error: OnError, decode: Decode
    ) -> list[Any]:
        """`_score` of a call that is one batch: the same answer, error and progress, without the thread machinery."""
        self._throttle.job_started()
        try:
            try:
                results = self._send_batch(table, batch, method, None, decode)
            except APIError as error:
                if on_error == "raise":
                    raise
                results = [error] * batch.size
            if progress is not None:
                progress(batch.size, table.n_rows)
            return results
        finally:
            self._throttle.job_finished()

    def _send_batch(
        self,
        table: Table,
        batch: Batch,
        method: Method,
        stop: threading.Event | None = None,
        decode: Decode = decode_results,
    ) -> list[Any]:
        results: list[Any] = []
        for part, body in encode_batch(table, self.contract, batch, method, self._options.max_batch_bytes):
            results.extend(self._send(table, part, body, method, stop, decode))
        return results

    def _send(
        self,
        table: Table,
        batch: Batch,
        body: bytes,
        method: Method,
        stop: threading.Event | None = None,
        decode: Decode = decode_results,
    ) -> list[Any]:
        throttle = self._throttle
        assert isinstance(throttle, ThreadThrottle)
        plan = attempts(batch, self._credential, self._options, self._policy, throttle, decode)
        waited: float | None = None  # the pause a retry's own wait outlasted
        try:
            step = next(plan)
            while True:
                if isinstance(step, Authorize):
                    self._credential.refresh()
                    step = plan.send(None)
                    continue
                if isinstance(step, Sleep):
                    waited = throttle.pause_covered(step.seconds)
                    time.sleep(step.seconds)
                    step = plan.send(None)
                    continue
                if stop is not None and stop.is_set():  # the call is over (a batch failed, or Ctrl-C)
                    raise _Stopped
                ticket = throttle.acquire(waited)
                answer: Answer | None = None
                try:
                    response = self._http.post(self.endpoint, content=body, headers=step.headers)
                    answer = read_answer(response.status_code, response.headers, self._policy.retry_after_cap)
                    reply: httpx.Response | httpx.HTTPError = response
                except httpx.HTTPError as exc:
                    reply = exc
                finally:
                    throttle.release(ticket, answer)
                step = plan.send(reply)
        except StopIteration as done:
            outcome: Outcome = done.value
        if outcome.results is not None:
            return outcome.results
        first, second = batch.halves()
        return self._send_batch(table, first, method, stop, decode) + self._send_batch(
            table, second, method, stop, decode
        )

    # -------------------------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncScoringClient(_ClientBase):
    """The same client for asyncio code; the contract is fetched on first use or in `async with`."""

    def _open(self) -> None:
        self._http = httpx.AsyncClient(**self._options.httpx_kwargs())
        self._contract_lock = asyncio.Lock()
        self._throttle = AsyncThrottle(
            self._throttle_state(), clock=lambda: time.monotonic(), sleep=lambda seconds: asyncio.sleep(seconds)
        )

    @property
    def contract(self) -> Contract:
        if self._contract is None:
            local = self._contract_from_source()
            if local is None:
                raise ContractError("the contract isn't loaded yet: `await client.load_contract()` or use `async with`")
            self._contract = local
        return self._contract

    async def load_contract(self) -> Contract:
        async with self._contract_lock:
            if self._contract is None:
                self._contract = self._contract_from_source() or await self._fetch_contract()
        return self._contract

    async def _fetch_contract(self) -> Contract:
        return parse_swagger(await self._fetch_document())

    async def swagger(self) -> dict[str, Any]:
        """The endpoint's swagger document as published (see `ScoringClient.swagger`), fetched anew each call."""
        document = self._document_from_source() or await self._fetch_document()
        parse_swagger(document)
        return document

    async def _fetch_document(self) -> dict[str, Any]:
        steps = discover_document(self._swagger_url())
        url = next(steps)
        while True:
            answer: httpx.Response | httpx.HTTPError
            try:
                answer = await self._get(url)
            except httpx.HTTPError as exc:
                answer = exc
            try:
                url = steps.send(answer)
            except StopIteration as done:
                document: dict[str, Any] = done.value
                return document

    @property
    def row_model(self) -> type[BaseModel]:
        if self._row_model is None:
            self._row_model = build_row_model(self.contract)
        return self._row_model

    async def health(self) -> bool:
        try:
            return (await self._get(health_uri(self.endpoint))).status_code == 200
        except httpx.HTTPError:
            return False

    async def _get(self, url: str) -> httpx.Response:
        answer = await self._http.get(url)
        for _ in range(2):
            if answer.status_code != 401 or not _can_authorize(self._credential):
                break
            if self._credential.stale():
                await self._credential.refresh_async()
            authorization = self._credential.authorization()
            answer = await self._http.get(url, headers={"authorization": authorization or ""})
            if answer.status_code != 401 or not self._credential.rejected(authorization):
                break
        return answer

    async def predict(
        self, rows: Rows, *, extra_columns: ExtraColumns = "error", progress: Progress | None = None
    ) -> pd.Series[Any]:
        contract = await self.load_contract()
        table = self._table(rows, extra_columns, contract)
        return to_series(table, await self._score(table, "predict", progress))

    async def predict_proba(
        self, rows: Rows, *, extra_columns: ExtraColumns = "error", progress: Progress | None = None
    ) -> pd.DataFrame:
        contract = await self.load_contract()
        check_method(contract, "predict_proba")
        table = self._table(rows, extra_columns, contract)
        return to_frame(table, await self._score(table, "predict_proba", progress), contract)

    async def explain(
        self,
        rows: Rows,
        top: int = 3,
        *,
        features: Sequence[str] | None = None,
        extra_columns: ExtraColumns = "error",
        progress: Progress | None = None,
    ) -> pd.DataFrame:
        """`ScoringClient.explain` for asyncio code."""
        contract = await self.load_contract()
        check_method(contract, "explain")
        table = self._table(rows, extra_columns, contract)
        names = tuple(features) if features is not None else explained_features(contract)
        try:
            results = await self._score(table, "explain", progress, decode=self._decoder(contract, "explain", names))
        except _EXPLAIN_REFUSALS as exc:
            if contract.explain is not None:
                raise
            raise not_an_explainer(contract, self.endpoint, exc) from None
        return to_explanation_frame(table, results, names, positive_class(contract), top)

    async def score_table(
        self, table: Table, method: Method = "predict", progress: Progress | None = None, *, on_error: OnError = "raise"
    ) -> list[Any]:
        contract = await self.load_contract()
        check_method(contract, method)
        return await self._score(table, method, progress, on_error, self._decoder(contract, method))

    async def _score(
        self,
        table: Table,
        method: Method,
        progress: Progress | None,
        on_error: OnError = "raise",
        decode: Decode = decode_results,
    ) -> list[Any]:
        contract = await self.load_contract()
        batches = _plan(table, contract, self._options)
        if len(batches) == 1:  # one batch (one row): no task to spawn, nothing to cancel, the same answer or error
            return await self._score_one(table, batches[0], method, progress, on_error, decode)
        return await self._score_batches(table, batches, method, progress, on_error, decode)

    async def _score_batches(
        self,
        table: Table,
        batches: list[Batch],
        method: Method,
        progress: Progress | None,
        on_error: OnError,
        decode: Decode,
    ) -> list[Any]:
        limit = asyncio.Semaphore(self._options.concurrency)
        done = 0
        failed = False  # a batch failed for good: the call is over, send nothing more

        async def run(batch: Batch) -> list[Any]:
            nonlocal done, failed
            async with limit:
                if failed:  # woken by the failed batch's release, before the group cancelled this task
                    raise asyncio.CancelledError
                try:
                    results = await self._send_batch(table, batch, method, decode)
                except APIError as error:
                    if on_error == "raise":
                        failed = True
                        raise
                    results = [error] * batch.size
            done += batch.size
            if progress is not None:
                progress(done, table.n_rows)
            return results

        # A task group, not gather: when a batch fails for good, the batches not yet sent are cancelled
        # instead of running on in the caller's event loop after the call has raised.
        failure: BaseException | None = None
        self._throttle.job_started()
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(run(b)) for b in batches]
        except BaseExceptionGroup as errors:
            failure = _first_failure(errors)
        finally:
            self._throttle.job_finished()
        if failure is not None:
            # Raised here, not inside the except: the error must not chain to the group that holds it,
            # a cycle that makes it unpicklable wherever exceptions pickle with their context (tblib, Dask).
            raise failure
        return [r for task in tasks for r in task.result()]

    async def _score_one(
        self, table: Table, batch: Batch, method: Method, progress: Progress | None, on_error: OnError, decode: Decode
    ) -> list[Any]:
        """`_score` of a call that is one batch: the same answer, error and progress, without a semaphore or tasks."""
        self._throttle.job_started()
        try:
            try:
                results = await self._send_batch(table, batch, method, decode)
            except APIError as error:
                if on_error == "raise":
                    raise
                results = [error] * batch.size
            if progress is not None:
                progress(batch.size, table.n_rows)
            return results
        finally:
            self._throttle.job_finished()

    async def _send_batch(
        self, table: Table, batch: Batch, method: Method, decode: Decode = decode_results
    ) -> list[Any]:
        results: list[Any] = []
        for part, body in encode_batch(table, self.contract, batch, method, self._options.max_batch_bytes):
            results.extend(await self._send(table, part, body, method, decode))
        return results

    async def _send(
        self, table: Table, batch: Batch, body: bytes, method: Method, decode: Decode = decode_results
    ) -> list[Any]:
        throttle = self._throttle
        assert isinstance(throttle, AsyncThrottle)
        plan = attempts(batch, self._credential, self._options, self._policy, throttle, decode)
        waited: float | None = None  # the pause a retry's own wait outlasted
        try:
            step = next(plan)
            while True:
                if isinstance(step, Authorize):
                    await self._credential.refresh_async()
                    step = plan.send(None)
                    continue
                if isinstance(step, Sleep):
                    waited = throttle.pause_covered(step.seconds)
                    await asyncio.sleep(step.seconds)
                    step = plan.send(None)
                    continue
                ticket = await throttle.acquire(waited)
                answer: Answer | None = None
                try:
                    response = await self._http.post(self.endpoint, content=body, headers=step.headers)
                    answer = read_answer(response.status_code, response.headers, self._policy.retry_after_cap)
                    reply: httpx.Response | httpx.HTTPError = response
                except httpx.HTTPError as exc:
                    reply = exc
                finally:
                    throttle.release(ticket, answer)
                step = plan.send(reply)
        except StopIteration as done:
            outcome: Outcome = done.value
        if outcome.results is not None:
            return outcome.results
        first, second = batch.halves()
        return await self._send_batch(table, first, method, decode) + await self._send_batch(
            table, second, method, decode
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        await self.load_contract()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _plan(table: Table, contract: Contract, options: ClientOptions) -> list[Batch]:
    """The batches of one call; one row is one batch of one (what planning from a sample would say, unencoded)."""
    if table.n_rows == 1:
        return [Batch(0, 1)]
    return list(plan_batches(table, contract, batch_rows=options.batch_rows, max_batch_bytes=options.max_batch_bytes))


def _first_failure(failed: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error a caller sees when batches failed at once: the earliest batch's, as the sync client raises it."""
    errors = list(failed.exceptions)
    api_errors = [e for e in errors if isinstance(e, APIError)]
    if len(api_errors) == len(errors):
        return min(api_errors, key=lambda e: e.rows or (0, 0))
    return next(e for e in errors if not isinstance(e, APIError))
