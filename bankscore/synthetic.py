"""Deprecated alias of `bankscore.bankmarketing.synthetic` (the domain now has its own package)."""

import warnings

from .bankmarketing.synthetic import generate, linear_predictor

warnings.warn(
    "bankscore.synthetic moved to bankscore.bankmarketing.synthetic; the old name goes away in 0.3",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["generate", "linear_predictor"]
