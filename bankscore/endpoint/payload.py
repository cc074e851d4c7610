"""Decode and check a /score body for one contract, column by column.

The checks run per column over plain lists (set-of-types tests run at C speed), and the slow
row-by-row search for the offending cell happens only once something is already wrong, so a
valid 1000-row request pays almost nothing for the precise error messages invalid ones get.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from ..model import InputSchema

Contract = Literal["inputs", "data"]
Method = Literal["predict", "predict_proba"]

METHODS: Final[tuple[Method, ...]] = ("predict", "predict_proba")
MAX_LISTED_ERRORS: Final = 20

_EXPECTED = {"int64": "a whole number (int64)", "double": "a number (double)", "string": "a string"}
_ENVELOPE_HINT = {
    "inputs": 'send {"Inputs": {"data": [row, ...]}, "GlobalParameters": {"method": "predict"}}',
    "data": 'send {"data": [row, ...]}',
}


@dataclass
class ClientError(Exception):
    """A mistake in the request: answered 4xx (or a gen-A in-band error), never 500."""

    status: int
    message: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    total_errors: int = 0

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        if self.errors:
            out["errors"] = self.errors
            out["error_count"] = self.total_errors
        return out


class RowError(ClientError):
    """Some rows break the schema; a gen-A service reports these in-band with HTTP 200."""


@dataclass
class ScoreRequest:
    columns: dict[str, list[Any]]
    rows: int
    method: Method


def parse_body(body: bytes, contract: Contract, schema: InputSchema) -> ScoreRequest:
    if not body.strip():
        raise ClientError(400, f"The request body is empty; {_ENVELOPE_HINT[contract]}")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"The request body is not valid JSON ({exc}); {_ENVELOPE_HINT[contract]}") from None
    if not isinstance(document, dict):
        raise ClientError(
            400,
            f"The request body must be a JSON object, not {_json_type(document)}; {_ENVELOPE_HINT[contract]}",
        )
    rows, method = _unwrap(document, contract)
    columns = rows_to_columns(rows, schema, where="Inputs.data" if contract == "inputs" else "data")
    return ScoreRequest(columns=columns, rows=len(rows), method=method)


def _unwrap(document: dict[str, Any], contract: Contract) -> tuple[Any, Method]:
    hint = _ENVELOPE_HINT[contract]
    if contract == "inputs":
        allowed = {"Inputs", "GlobalParameters"}
        if "Inputs" not in document:
            found = ", ".join(sorted(document)) or "nothing"
            raise ClientError(400, f'The body has no "Inputs" key (found: {found}); {hint}')
        inputs = document["Inputs"]
        if not isinstance(inputs, dict) or "data" not in inputs:
            raise ClientError(400, f'"Inputs" must be an object holding "data"; {hint}')
        extra_inputs = sorted(set(inputs) - {"data"})
        if extra_inputs:
            raise ClientError(400, f'Unknown key(s) in "Inputs": {", ".join(extra_inputs)}; {hint}')
        params = document.get("GlobalParameters", {})
        if not isinstance(params, dict):
            raise ClientError(400, f'"GlobalParameters" must be an object; {hint}')
        extra_params = sorted(set(params) - {"method"})
        if extra_params:
            raise ClientError(400, f'Unknown key(s) in "GlobalParameters": {", ".join(extra_params)}')
        method = params.get("method", "predict")
        where = "GlobalParameters.method"
        rows = inputs["data"]
    else:
        allowed = {"data", "method"}
        if "data" not in document:
            found = ", ".join(sorted(document)) or "nothing"
            raise ClientError(400, f'The body has no "data" key (found: {found}); {hint}')
        method = document.get("method", "predict")
        where = "method"
        rows = document["data"]
    extra = sorted(set(document) - allowed)
    if extra:
        raise ClientError(400, f"Unknown top-level key(s): {', '.join(extra)}; {hint}")
    if method not in METHODS:
        raise ClientError(400, f'{where} must be "predict" or "predict_proba", not {_show(method)}')
    return rows, method


def rows_to_columns(rows: Any, schema: InputSchema, *, where: str = "data") -> dict[str, list[Any]]:
    if not isinstance(rows, list):
        raise ClientError(400, f"{where} must be a list of row objects, not {_json_type(rows)}")
    if not rows:
        raise ClientError(400, f"{where} is empty; send at least one row")
    if set(map(type, rows)) != {dict}:
        bad = next(i for i, r in enumerate(rows) if not isinstance(r, dict))
        raise ClientError(
            400, f"{where}[{bad}] is {_json_type(rows[bad])}; every row must be an object of column: value"
        )
    expected = schema.columns
    if set(map(len, rows)) != {len(expected)}:
        _raise_shape_errors(rows, expected, where)
    columns: dict[str, list[Any]] = {}
    for name in expected:
        try:
            values = [r[name] for r in rows]
        except KeyError:
            _raise_shape_errors(rows, expected, where)
        kind = schema.types[name]
        found = set(map(type, values))
        if kind == "string":
            ok = found <= {str}
        elif kind == "double":
            ok = found <= {float, int}
        else:
            ok = found <= {int} or (found <= {int, float} and all(float(v).is_integer() for v in values))
        if not ok:
            _raise_type_errors(values, name, kind, where)
        columns[name] = values
    return columns


def _raise_shape_errors(rows: Sequence[Mapping[str, Any]], expected: Sequence[str], where: str) -> None:
    wanted = set(expected)
    errors: list[dict[str, Any]] = []
    total = 0
    for i, row in enumerate(rows):
        keys = set(row)
        for name in sorted(wanted - keys, key=expected.index):
            total += 1
            if len(errors) < MAX_LISTED_ERRORS:
                errors.append({"row": i, "column": name, "problem": "missing column"})
        for name in sorted(keys - wanted):
            total += 1
            if len(errors) < MAX_LISTED_ERRORS:
                errors.append({"row": i, "column": name, "problem": "unknown column"})
    first = errors[0]
    if first["problem"] == "missing column":
        fix = f"add {first['column']!r}"
    else:
        fix = f"remove it; the columns are {', '.join(expected)}"
    message = f"{where}[{first['row']}]: {first['problem']} {first['column']!r}; {fix}"
    raise RowError(400, _with_count(message, total), errors, total)


def _raise_type_errors(values: Sequence[Any], name: str, kind: str, where: str) -> None:
    errors: list[dict[str, Any]] = []
    total = 0
    for i, value in enumerate(values):
        if _valid(value, kind):
            continue
        total += 1
        if len(errors) < MAX_LISTED_ERRORS:
            errors.append({"row": i, "column": name, "value": value, "expected": kind})
    first = errors[0]
    value = first["value"]
    if value is None:
        message = f"{where}[{first['row']}].{name}: null where {_EXPECTED[kind]} is required; fill it in"
    else:
        message = f"{where}[{first['row']}].{name}: expected {_EXPECTED[kind]}, got {_show(value)}"
    raise RowError(400, _with_count(message, total), errors, total)


def _valid(value: Any, kind: str) -> bool:
    t = type(value)
    if kind == "string":
        return t is str
    if kind == "double":
        return t is float or t is int
    return t is int or (t is float and float(value).is_integer())


def _with_count(message: str, total: int) -> str:
    return message if total == 1 else f"{message} (and {total - 1} more problem{'s' if total > 2 else ''})"


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, bytes) else repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_json_type(value)})"
