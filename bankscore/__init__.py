"""bankscore: consume Azure Machine Learning scoring endpoints (Bank Marketing model) the typed way.

`import bankscore` is the SDK: clients, contract, validation, retries, credentials and the error tree.
It imports neither pandas nor any wing; those load on first use. The wings are extras:
`bankscore.server` (the embedded endpoint and trainer, `bankscore[server]`), `bankscore.files`
(Parquet and XLSX need `bankscore[files]`), `bankscore.excel`, `bankscore.loadtest` and
`bankscore.integrations.dask`.
"""

from typing import TYPE_CHECKING, Any

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BankscoreError,
    BatchJobError,
    ContractError,
    FileFormatError,
    InputValidationError,
    InternalServerError,
    KeySourceError,
    MissingDependencyError,
    ModelError,
    NotFoundError,
    PermissionDeniedError,
    PipelineError,
    Problem,
    RateLimitError,
    RequestHeadersTooLargeError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseDecodeError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    WaitTimeoutError,
)
from ._types import METHODS, NOT_GIVEN, ColumnType, Envelope, Method, NotGiven
from ._version import __version__
from .contract import Column, Contract, parse_swagger
from .credentials import ARM_SCOPE, ML_SCOPE, KeyCredential, TokenAuth, default_azure_credential
from .retry import RetryPolicy

if TYPE_CHECKING:
    from ._base_client import PreparedRequest, read_scores, scoring_uri
    from ._client import AsyncScoringClient, ScoringClient, ScoringOptions
    from ._throttle import ClientStats
    from .batch_jobs import BatchEndpointClient, BatchJob
    from .pipeline_runs import PipelineClient, PipelineRun

__all__ = [
    "ARM_SCOPE",
    "METHODS",
    "ML_SCOPE",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncScoringClient",
    "AuthenticationError",
    "BadRequestError",
    "BankscoreError",
    "BatchEndpointClient",
    "BatchJob",
    "BatchJobError",
    "ClientStats",
    "Column",
    "ColumnType",
    "Contract",
    "ContractError",
    "Envelope",
    "FileFormatError",
    "InputValidationError",
    "InternalServerError",
    "KeyCredential",
    "KeySourceError",
    "Method",
    "MissingDependencyError",
    "ModelError",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "PipelineClient",
    "PipelineError",
    "PipelineRun",
    "PreparedRequest",
    "Problem",
    "RateLimitError",
    "RequestHeadersTooLargeError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseDecodeError",
    "RetryPolicy",
    "ScoringClient",
    "ScoringOptions",
    "ServiceUnavailableError",
    "TokenAuth",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
    "__version__",
    "default_azure_credential",
    "parse_swagger",
    "read_scores",
    "scoring_uri",
]

# The clients import httpx and pydantic: they load on first use, so the CLI's `--version` and `--help`
# (and a program that only catches bankscore's errors) don't pay for them.
_LAZY = {
    "AsyncScoringClient": "bankscore._client",
    "ScoringClient": "bankscore._client",
    "ScoringOptions": "bankscore._client",
    "ClientStats": "bankscore._throttle",
    "PreparedRequest": "bankscore._base_client",
    "read_scores": "bankscore._base_client",
    "scoring_uri": "bankscore._base_client",
    "BatchEndpointClient": "bankscore.batch_jobs",
    "BatchJob": "bankscore.batch_jobs",
    "PipelineClient": "bankscore.pipeline_runs",
    "PipelineRun": "bankscore.pipeline_runs",
    # Moved to the server wing in 0.2; still importable from here.
    "TrainingDataError": "bankscore.server.errors",
    "ModelLoadError": "bankscore.server.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bankscore' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def main() -> None:
    """The template workbook's button: xlwings runs `<workbook name>.main()`, and the template is bankscore.xlsm.

    Scores the selected table, or writes sample data into an empty selection (needs `bankscore[excel]`).
    """
    from .excel.macros import score_selection

    score_selection()
