"""Decode and check a /score body for one envelope, column by column.

Large bodies first try Arrow's JSON reader against the exact expected schema: it parses and
type-checks outside the GIL, so the service's requests overlap each other and the caller's
work. Anything it does not accept exactly as the Python path would (a null, an extra key, a
whole float in an int column, a numeric string, NaN, a BOM, ...) falls through to the Python path, which gives
the authoritative answer and the precise error. That path checks per column over plain lists
(set-of-types tests run at C speed) and goes cell by cell only when a column is not plainly of its type.

Cell by cell it reads values as Microsoft's server does (inference-schema casts the rows to the
sample's dtypes): a numeric string becomes its number ("57", " 57 ", "-1.8", "1e3"), and a number
or boolean in a category column becomes its text. Where that server would silently score something
other than what was sent (57.5 truncated to 57, true as 1, NaN or inf fed to the model) or fail
with a generic 500 ("57.0" in an int column, "", "abc", null in an int column), this service
answers 400 naming the row and the column.
"""

# ruff: noqa: E402 (the extra is checked before its libraries are imported: a missing one is one clear line)
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from .._extras import check

check("server", "The embedded endpoint (and its trainer)")  # before the imports it checks for

import json
import math

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from .model import FloatMatrix, InputSchema

ServedEnvelope: TypeAlias = Literal["inputs", "data", "explain"]
"""The envelopes the embedded endpoint serves: gen B, gen A, and AutoML v1's explainer deployment (a bare
array of records in, per-class importance values out); MLflow's is only ever a client's."""
ServedMethod: TypeAlias = Literal["predict", "predict_proba", "explain"]
SERVED_METHODS: Final[Mapping[ServedEnvelope, tuple[ServedMethod, ...]]] = {
    "inputs": ("predict", "predict_proba", "explain"),  # explain: bankscore's extension of gen B
    "data": ("predict", "predict_proba"),
    "explain": ("explain",),  # implied: the body is the rows alone
}
"""What a body may ask for, per envelope; the Arrow and the Python path accept exactly these."""

MAX_LISTED_ERRORS: Final = 20
# Below this many bytes orjson is faster than setting up Arrow's reader (about 140 rows).
ARROW_MIN_BYTES: Final = 16 * 1024
_ARROW_TYPES: Final = {"int64": pa.int64(), "double": pa.float64(), "string": pa.string()}
_BOM: Final = b"\xef\xbb\xbf"
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_NOT_JSON_LITERALS: Final = ("NaN", "Infinity")

_EXPECTED = {"int64": "a whole number (int64)", "double": "a number (double)", "string": "a string"}
_ENVELOPE_HINT = {
    "inputs": 'send {"Inputs": {"data": [row, ...]}, "GlobalParameters": {"method": "predict"}}',
    "data": 'send {"data": [row, ...]}',
    "explain": 'send a JSON array of row objects, [{"age": 41, ...}, ...], as the AutoML explainer reads them',
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
    """Checked rows, as column lists (Python path) or already encoded for the model (Arrow path)."""

    rows: int
    method: ServedMethod
    columns: dict[str, list[Any]] | None = None
    matrix: FloatMatrix | None = None

    def encoded(self, schema: InputSchema) -> FloatMatrix:
        if self.matrix is not None:
            return self.matrix
        assert self.columns is not None
        return schema.encode_columns(self.columns, self.rows)


class BodyParser:
    """Parses /score bodies for one envelope and model schema; the Arrow schema is built once."""

    def __init__(self, envelope: ServedEnvelope, schema: InputSchema) -> None:
        self.envelope = envelope
        self.schema = schema
        row = pa.struct([pa.field(c, _ARROW_TYPES[schema.types[c]]) for c in schema.columns])
        method = pa.field("method", pa.string())
        self._methods = SERVED_METHODS[envelope]
        if envelope == "inputs":
            fields = [
                pa.field("Inputs", pa.struct([pa.field("data", pa.list_(row))])),
                pa.field("GlobalParameters", pa.struct([method])),
            ]
        elif envelope == "data":
            fields = [pa.field("data", pa.list_(row)), method]
        else:  # a bare array, read as the one field of an object wrapped around it (see _parse_arrow)
            fields = [pa.field("data", pa.list_(row))]
        self._options = pa_json.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="error")
        self._levels = {c: pa.array(levels, pa.string()) for c, levels in schema.levels.items()}

    def parse(self, body: bytes) -> ScoreRequest:
        if len(body) >= ARROW_MIN_BYTES:
            fast = self._parse_arrow(body)
            if fast is not None:
                return fast
        return parse_body(body, self.envelope, self.schema)

    def _parse_arrow(self, body: bytes) -> ScoreRequest | None:
        """The rows encoded for the model, or None for anything the Python path must judge."""
        if body.startswith(_BOM):  # rare; the Python path strips it (and reads UTF-16/32)
            return None
        if self.envelope == "explain":
            # Arrow reads objects, not a bare array: wrap it as {"data": body}. Text that is not one array
            # can't pass for one: a second key is unexpected or twice "data", and more documents more rows.
            body = b'{"data":' + body + b"}"
        options = pa_json.ReadOptions(use_threads=False, block_size=len(body) + 1)
        try:
            document = pa_json.read_json(pa.py_buffer(body), read_options=options, parse_options=self._options)
        except (pa.ArrowException, ValueError):
            return None
        if document.num_rows != 1 or any(column.null_count for column in document.columns):
            return None
        if self.envelope == "inputs":
            rows = document.column("Inputs").chunk(0).field("data")
            method = document.column("GlobalParameters").chunk(0).field("method")[0].as_py()
        elif self.envelope == "data":
            rows = document.column("data").chunk(0)
            method = document.column("method").chunk(0)[0].as_py()
        else:
            rows = document.column("data").chunk(0)
            method = "explain"
        if method not in self._methods:
            return None
        values = rows.flatten()
        n_rows = len(values)
        if n_rows == 0 or values.null_count:
            return None
        matrix = np.empty((n_rows, len(self.schema.columns)), dtype=np.float64)
        for j, name in enumerate(self.schema.columns):
            column = values.field(name)
            if column.null_count:
                return None
            kind = self.schema.types[name]
            if kind == "string":
                try:
                    column.validate(full=True)  # UTF-8, which orjson insists on
                except pa.ArrowInvalid:
                    return None
                codes = pc.index_in(column, value_set=self._levels[name])  # unseen level → null → NaN
                matrix[:, j] = codes.to_numpy(zero_copy_only=False)
            else:
                numbers = column.to_numpy(zero_copy_only=False)
                if kind == "double" and not np.isfinite(numbers).all():  # NaN/Infinity literals: not JSON
                    return None
                matrix[:, j] = numbers
        return ScoreRequest(rows=n_rows, method=method, matrix=matrix)


def parse_body(body: bytes, envelope: ServedEnvelope, schema: InputSchema) -> ScoreRequest:
    if not body.strip():
        raise ClientError(400, f"The request body is empty; {_ENVELOPE_HINT[envelope]}")
    body = _as_utf8(body)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, _not_json_message(exc, envelope)) from None
    if envelope == "explain":
        if not isinstance(document, list):
            raise ClientError(
                400, f"The request body must be a JSON array, not {_json_type(document)}; {_ENVELOPE_HINT[envelope]}"
            )
        return ScoreRequest(
            rows=len(document), method="explain", columns=rows_to_columns(document, schema, where="rows")
        )
    if not isinstance(document, dict):
        raise ClientError(
            400,
            f"The request body must be a JSON object, not {_json_type(document)}; {_ENVELOPE_HINT[envelope]}",
        )
    rows, method = _unwrap(document, envelope)
    columns = rows_to_columns(rows, schema, where="Inputs.data" if envelope == "inputs" else "data")
    return ScoreRequest(rows=len(rows), method=method, columns=columns)


def _as_utf8(body: bytes) -> bytes:
    """The body as UTF-8 without a BOM. JSON text may also be UTF-16 or UTF-32 (RFC 4627); Python's
    json module, and so Microsoft's server, detects those from the first bytes, and so do we."""
    encoding = json.detect_encoding(body)
    if encoding == "utf-8":
        return body
    try:
        return body.decode(encoding).encode()
    except UnicodeError as exc:
        name = "UTF-8" if encoding == "utf-8-sig" else encoding.upper()
        raise ClientError(400, f"The request body is not valid {name} text ({exc}); send UTF-8 JSON") from None


def _not_json_message(exc: orjson.JSONDecodeError, envelope: ServedEnvelope) -> str:
    rest = exc.doc[exc.pos : exc.pos + 8]
    literal = next((text for text in _NOT_JSON_LITERALS if rest.startswith(text)), None)
    if literal is not None:
        # Python's json.dumps writes a float NaN or inf this way; Microsoft's server (Python's json) reads
        # it and scores a missing value, which this service does not (see rows_to_columns).
        sign = "-" if exc.doc[exc.pos - 1 : exc.pos] == "-" else ""
        return (
            f"The request body is not valid JSON: {sign}{literal} at line {exc.lineno} column {exc.colno} "
            "is not a JSON value; fill in the missing or infinite number "
            "(json.dumps(..., allow_nan=False) catches it before sending)"
        )
    return f"The request body is not valid JSON ({exc}); {_ENVELOPE_HINT[envelope]}"


def _unwrap(document: dict[str, Any], envelope: ServedEnvelope) -> tuple[Any, ServedMethod]:
    hint = _ENVELOPE_HINT[envelope]
    if envelope == "inputs":
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
    methods = SERVED_METHODS[envelope]
    if method not in methods:
        named = " or ".join(", ".join(f'"{m}"' for m in methods).rsplit(", ", 1))
        message = f"{where} must be {named}, not {_show(method)}"
        if method == "explain":
            message += (
                "; this service (gen A) does not explain its rows: explanations come from a gen-B service "
                '(GlobalParameters.method "explain"), e.g. `bankscore serve --contract inputs`'
            )
        raise ClientError(400, message)
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
        if not ok:  # numeric strings, numbers as categories, or mistakes: cell by cell
            values = _cast_column(values, name, kind, where)
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


class _Refused(Exception):
    """A cell that can't be read as its column's type; the text says why, when the type alone doesn't."""

    def __init__(self, why: str = "") -> None:
        self.why = why


def _as_int64(value: Any) -> Any:
    t = type(value)
    if t is int:
        return value
    if t is float:
        if value.is_integer():
            return value
        raise _Refused("not a whole number; round it before sending")
    if t is str:
        try:
            number = int(value)  # what numpy's astype(int64) does with text: spaces, a sign, "1_000"
        except ValueError:
            raise _Refused('a string must hold a whole number in digits, such as "57"') from None
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise _Refused("outside the int64 range")
        return number
    raise _Refused()


def _as_double(value: Any) -> Any:
    t = type(value)
    if t is float or t is int:
        return value
    if t is str:
        try:
            number = float(value)  # what numpy's astype(float64) does with text: "-1.8", " 1e3 "
        except ValueError:
            raise _Refused('a string must hold a number, such as "-1.8"') from None
        if math.isnan(number):
            raise _Refused("a missing value; fill it in")
        if math.isinf(number):
            raise _Refused("not a finite number")
        return number
    raise _Refused()


def _as_category(value: Any) -> Any:
    t = type(value)
    if t is str:
        return value
    if t is int or t is float or t is bool:
        return str(value)  # its text, as a category; a level the model never saw scores as unseen
    raise _Refused()


_CASTS: Final = {"int64": _as_int64, "double": _as_double, "string": _as_category}


def _cast_column(values: Sequence[Any], name: str, kind: str, where: str) -> list[Any]:
    """The column read as `kind`, or a RowError listing every cell that can't be."""
    cast = _CASTS[kind]
    out: list[Any] = []
    errors: list[dict[str, Any]] = []
    total = 0
    first_why = ""
    for i, value in enumerate(values):
        try:
            out.append(cast(value))
        except _Refused as refused:
            if not total:
                first_why = refused.why
            total += 1
            if len(errors) < MAX_LISTED_ERRORS:
                errors.append({"row": i, "column": name, "value": value, "expected": kind})
    if not total:
        return out
    first = errors[0]
    value = first["value"]
    if value is None:
        message = f"{where}[{first['row']}].{name}: null where {_EXPECTED[kind]} is required; fill it in"
    else:
        message = f"{where}[{first['row']}].{name}: expected {_EXPECTED[kind]}, got {_show(value)}"
        if first_why:
            message += f": {first_why}"
    raise RowError(400, _with_count(message, total), errors, total)


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
