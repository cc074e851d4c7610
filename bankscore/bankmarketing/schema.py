"""The Bank Marketing table as every Azure deployment of the model declares it.

One place for column names, their JSON types and their order, so that the synthetic
generator, the trainer, the embedded endpoint and its swagger cannot drift apart. The columns
are the SDK's own `Column`s, as a swagger of this model would make them.
"""

from __future__ import annotations

from typing import Final

from .._types import ColumnType
from ..contract import Column

COLUMNS: Final[tuple[Column, ...]] = (
    Column("age", "int64"),
    Column("job", "string"),
    Column("marital", "string"),
    Column("education", "string"),
    Column("default", "string"),
    Column("housing", "string"),
    Column("loan", "string"),
    Column("contact", "string"),
    Column("month", "string"),
    Column("day_of_week", "string"),
    Column("duration", "int64"),
    Column("campaign", "int64"),
    Column("pdays", "int64"),
    Column("previous", "int64"),
    Column("poutcome", "string"),
    Column("emp.var.rate", "double"),
    Column("cons.price.idx", "double"),
    Column("cons.conf.idx", "double"),
    Column("euribor3m", "double"),
    Column("nr.employed", "double"),
)

COLUMN_NAMES: Final[tuple[str, ...]] = tuple(c.name for c in COLUMNS)
COLUMN_TYPES: Final[dict[str, ColumnType]] = {c.name: c.type for c in COLUMNS}

LABEL: Final = "y"
CLASSES: Final[tuple[str, str]] = ("no", "yes")

# The levels seen in the UCI Bank Marketing data (Moro et al. 2014). Models learn the levels
# of their own training data; these are what the synthetic generator draws from.
CATEGORY_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "job": (
        "admin.",
        "blue-collar",
        "entrepreneur",
        "housemaid",
        "management",
        "retired",
        "self-employed",
        "services",
        "student",
        "technician",
        "unemployed",
        "unknown",
    ),
    "marital": ("divorced", "married", "single", "unknown"),
    "education": (
        "basic.4y",
        "basic.6y",
        "basic.9y",
        "high.school",
        "illiterate",
        "professional.course",
        "university.degree",
        "unknown",
    ),
    "default": ("no", "unknown", "yes"),
    "housing": ("no", "unknown", "yes"),
    "loan": ("no", "unknown", "yes"),
    "contact": ("cellular", "telephone"),
    "month": ("apr", "aug", "dec", "jul", "jun", "mar", "may", "nov", "oct", "sep"),
    "day_of_week": ("fri", "mon", "thu", "tue", "wed"),
    "poutcome": ("failure", "nonexistent", "success"),
}

# The seed project's sample request (two rows), kept as the canonical example payload.
SAMPLE_ROWS: Final[tuple[dict[str, object], ...]] = tuple(
    {
        "age": age,
        "job": "blue-collar",
        "marital": "married",
        "education": "university.degree",
        "default": "no",
        "housing": "yes",
        "loan": "yes",
        "contact": "cellular",
        "month": "may",
        "day_of_week": "mon",
        "duration": duration,
        "campaign": 1,
        "pdays": 999,
        "previous": 1,
        "poutcome": "failure",
        "emp.var.rate": -1.8,
        "cons.price.idx": 92.893,
        "cons.conf.idx": -46.2,
        "euribor3m": 1.299,
        "nr.employed": 5099.1,
    }
    for age, duration in ((17, 971), (87, 471))
)
