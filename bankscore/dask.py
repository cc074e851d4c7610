"""Deprecated alias of `bankscore.integrations.dask` (the module's old name shadowed the library it wraps)."""

import warnings

from .integrations.dask import PartitionError, iter_computed, predict, predict_proba, score_file

warnings.warn(
    "bankscore.dask moved to bankscore.integrations.dask; the old name goes away in 0.3",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["PartitionError", "iter_computed", "predict", "predict_proba", "score_file"]
