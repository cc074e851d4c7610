"""bankscore: consume Azure Machine Learning scoring endpoints (Bank Marketing model)."""

__version__ = "0.1.0"
