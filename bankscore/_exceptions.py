"""One exception tree, so callers can catch everything bankscore raises with one clause."""

from __future__ import annotations


class BankscoreError(Exception):
    """Base of every error bankscore raises on purpose."""


class TrainingDataError(BankscoreError, ValueError):
    """The training table can't be used: the message says what, where and how to fix it."""


class ModelLoadError(BankscoreError):
    """A model directory is missing, incomplete or written by an incompatible version."""
