"""bankscore: consume Azure Machine Learning scoring endpoints (Bank Marketing model) the typed way."""

__version__ = "0.1.0"

from ._base_client import PreparedRequest, read_scores
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BankscoreError,
    ContractError,
    InputValidationError,
    InternalServerError,
    ModelError,
    ModelLoadError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseDecodeError,
    ServiceUnavailableError,
    TrainingDataError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)
from .client import AsyncScoringClient, ScoringClient
from .contract import Column, Contract, parse_swagger
from .credentials import KeyCredential
from .retry import RetryPolicy

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncScoringClient",
    "AuthenticationError",
    "BadRequestError",
    "BankscoreError",
    "Column",
    "Contract",
    "ContractError",
    "InputValidationError",
    "InternalServerError",
    "KeyCredential",
    "ModelError",
    "ModelLoadError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreparedRequest",
    "Problem",
    "RateLimitError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseDecodeError",
    "RetryPolicy",
    "ScoringClient",
    "ServiceUnavailableError",
    "TrainingDataError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "__version__",
    "parse_swagger",
    "read_scores",
]


def main() -> None:
    """The template workbook's button: xlwings runs `<workbook name>.main()`, and the template is bankscore.xlsm.

    Scores the selected table, or writes sample data into an empty selection (needs `bankscore[excel]`).
    """
    from .excel.macros import score_selection

    score_selection()
