"""Excel add-in: score the rows of a sheet with one formula or one button (xlwings).

The logic here is plain Python and runs anywhere; only `udfs` (worksheet functions) and the sheet
I/O in `macros` touch xlwings, and on Linux and macOS its UDF decorators are no-ops.
"""

from .core import ExcelScorer, HeaderMap, RangeError, RangeResult, RowCache, coerce, map_headers
from .settings import Settings, SettingsError, settings_from_grid

__all__ = [
    "ExcelScorer",
    "HeaderMap",
    "RangeError",
    "RangeResult",
    "RowCache",
    "Settings",
    "SettingsError",
    "coerce",
    "map_headers",
    "settings_from_grid",
]
