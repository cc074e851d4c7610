"""A pydantic model of one input row, built at run time from the contract.

Column names like `emp.var.rate` aren't Python identifiers, so fields get safe names
(`emp_var_rate`) and keep the wire name as their alias; dumping by alias gives back exactly
the row the endpoint expects. Fields read values as the client's validation does (text,
Decimal and numpy numbers by value, pandas' NA as missing), so a row model accepts what a
DataFrame or a dict would.
"""

from __future__ import annotations

import functools
import keyword
import re
import sys
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from .contract import Column, Contract
from .validation import as_plain

_PY_TYPES: dict[str, Any] = {"int64": int, "double": float, "string": str, "boolean": bool, "any": Any}


def field_name(column: str) -> str:
    """`emp.var.rate` → `emp_var_rate`; keywords and leading digits get an underscore."""
    name = re.sub(r"\W", "_", column)
    if not name or name[0].isdigit():
        name = f"_{name}"
    if keyword.iskeyword(name) or name in BaseModel.__dict__ or name.startswith("model_"):
        name = f"{name}_"
    return name


def field_names(contract: Contract) -> dict[str, str]:
    """Column → field name, made unique when two columns sanitise to the same name."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for column in contract.columns:
        base = name = field_name(column.name)
        n = 2
        while name in used:
            name = f"{base}_{n}"
            n += 1
        used.add(name)
        out[column.name] = name
    return out


def python_type(column: Column) -> Any:
    kind = _PY_TYPES[column.type]
    return kind if column.required else kind | None


def _read(kind: str, value: Any) -> Any:
    """What validation makes of the value; pydantic then checks the result (and words the error)."""
    pandas = sys.modules.get("pandas")  # a pandas NA can only come from an imported pandas
    if pandas is not None and value is pandas.NA:
        return None
    return as_plain(value, kind)


def build_row_model(contract: Contract, name: str = "Row") -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for column, attr in zip(contract.columns, field_names(contract).values(), strict=True):
        default = ... if column.required else None
        read = BeforeValidator(functools.partial(_read, column.type))
        fields[attr] = (Annotated[python_type(column), read], Field(default, alias=column.name))
    model: type[BaseModel] = create_model(
        name,
        __config__=ConfigDict(populate_by_name=True, extra="forbid", frozen=True),
        **fields,
    )
    return model
