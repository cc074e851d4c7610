"""Errors only the server wing raises: the trainer's and the model loader's."""

from __future__ import annotations

from .._exceptions import BankscoreError


class TrainingDataError(BankscoreError, ValueError):
    """The training table can't be used: the message says what, where and how to fix it."""


class ModelLoadError(BankscoreError):
    """A model directory is missing, incomplete or written by an incompatible version."""


class ExplanationUnavailable(BankscoreError):
    """The model has no exact additive explanation (an ensemble saved before bankscore 0.3 averages
    probabilities); the message says how to get one that has."""
