"""The Bank Marketing domain: the model's columns and classes, and synthetic rows that look like the real data.

`schema` is plain data (no imports beyond the SDK's own types); `synthetic` needs numpy and pandas.
"""

from .schema import CATEGORY_LEVELS, CLASSES, COLUMN_NAMES, COLUMN_TYPES, COLUMNS, LABEL, SAMPLE_ROWS

__all__ = ["CATEGORY_LEVELS", "CLASSES", "COLUMNS", "COLUMN_NAMES", "COLUMN_TYPES", "LABEL", "SAMPLE_ROWS"]
