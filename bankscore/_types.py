"""Type names shared by the SDK, the server wing and the front-ends: one name for each concept.

Importing this module costs nothing (no pandas, no numpy): the names that mention pandas exist
for type checkers only.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeAlias, runtime_checkable

Envelope: TypeAlias = Literal["data", "inputs", "mlflow"]
"""The request envelope /score takes: gen A `{"data": ...}`, gen B `{"Inputs": ..., "GlobalParameters": ...}`,
MLflow `{"input_data": ...}`."""

Method: TypeAlias = Literal["predict", "predict_proba", "explain"]
"""What a scoring request asks the model for (`explain`: per-row contributions, where the service offers them)."""

METHODS: Final[tuple[Method, ...]] = ("predict", "predict_proba")

ColumnType: TypeAlias = Literal["int64", "double", "string", "boolean", "any"]
"""The JSON type of one input column, as a swagger declares it."""

ExtraColumns: TypeAlias = Literal["error", "ignore"]
"""What to do with input columns the contract doesn't name."""

OnError: TypeAlias = Literal["raise", "return"]
"""When a batch fails for good: raise, or put the error in each of its rows and go on."""

Progress: TypeAlias = Callable[[int, int], None]
"""`progress(rows_done, rows_total)`, called as batches finish."""

Verify: TypeAlias = bool | str | Path | ssl.SSLContext
"""TLS verification: True (system CAs), False (none), a CA bundle file or directory, or an SSLContext."""

AuthMode: TypeAlias = Literal["key", "entra"]
"""How a front-end authenticates: an endpoint key, or a Microsoft Entra token from azure-identity."""

SwaggerSource: TypeAlias = str | Path | Mapping[str, Any] | None
"""Where the contract comes from: a URL, a saved swagger.json, a parsed document, or None (the endpoint's own)."""

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import BaseModel

    Rows: TypeAlias = pd.DataFrame | Sequence[Mapping[str, Any]] | Sequence[BaseModel]
    """Rows to score: a DataFrame, a list of dicts keyed by column, or a list of row models."""


class NotGiven:
    """The default of `with_options` parameters: "leave as it is", distinct from None (which can be a value)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()


class AccessTokenLike(Protocol):
    """What azure-core's `AccessToken` and `AccessTokenInfo` carry: the token and its expiry (epoch s)."""

    @property
    def token(self) -> str: ...
    @property
    def expires_on(self) -> int: ...


@runtime_checkable
class TokenCredential(Protocol):
    """azure-core's `TokenCredential` (azure-identity's credentials), described here so the core needs no azure-core."""

    def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, **kwargs: Any
    ) -> AccessTokenLike: ...


@runtime_checkable
class AsyncTokenCredential(Protocol):
    """azure-core's `AsyncTokenCredential` (the credentials of `azure.identity.aio`)."""

    async def get_token(
        self, *scopes: str, claims: str | None = None, tenant_id: str | None = None, **kwargs: Any
    ) -> AccessTokenLike: ...
