"""Column lists → request bodies, and the batches they travel in.

Rows are zipped straight from column lists into dicts and serialised by orjson: no
`to_dict('records')` (slow) and no `DataFrame.to_json` (it rounds floats to 10 digits).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ._exceptions import InputValidationError, Problem
from ._types import Method
from .contract import Contract
from .validation import Table, coerce_numpy


def encode(table: Table, contract: Contract, method: Method) -> bytes:
    names = contract.column_names
    columns = [table.columns[name] for name in names]
    if contract.envelope == "mlflow":
        body: Any = {
            "input_data": {
                "columns": list(names),
                "index": list(range(table.n_rows)),
                "data": [list(values) for values in zip(*columns, strict=True)],
            }
        }
    else:
        rows = list(map(_row_builder(names), *columns)) if names else [{} for _ in range(table.n_rows)]
        if method == "explain" and contract.explain is None:
            body = rows  # an AutoML explainer deployment reads a bare array of records
        elif contract.envelope == "inputs":
            body = {"Inputs": {"data": rows}, "GlobalParameters": {"method": method}}
        else:
            body = {"data": rows}
            if method != "predict":
                body["method"] = method
    try:
        return orjson.dumps(body, default=coerce_numpy)
    except orjson.JSONEncodeError:
        raise _unencodable(table) from None


@functools.lru_cache(maxsize=32)
def _row_builder(names: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """`lambda v0, v1, ...: {"age": v0, "job": v1, ...}`: a dict display is about 30 % faster than dict(zip()).

    Built as a syntax tree, so a column name is only ever a string constant, never parsed as code.
    """
    params = [ast.arg(arg=f"v{i}") for i in range(len(names))]
    body = ast.Dict(
        keys=[ast.Constant(name) for name in names],
        values=[ast.Name(id=f"v{i}", ctx=ast.Load()) for i in range(len(names))],
    )
    arguments = ast.arguments(posonlyargs=[], args=params, kwonlyargs=[], kw_defaults=[], defaults=[])
    tree = ast.fix_missing_locations(ast.Expression(ast.Lambda(args=arguments, body=body)))
    builder: Callable[..., dict[str, Any]] = eval(compile(tree, "<bankscore row>", "eval"), {"__builtins__": {}})  # noqa: S307
    return builder


def _unencodable(table: Table) -> InputValidationError:
    """Find the cells JSON can't carry (lone surrogates, objects); only runs once encoding has failed."""
    problems = []
    for name, values in table.columns.items():
        for i, value in enumerate(values):
            try:
                orjson.dumps(value, default=coerce_numpy)
            except orjson.JSONEncodeError:
                problems.append(Problem(table.index[i], name, value, "a value JSON can carry (valid Unicode text)"))
    return InputValidationError(problems or [Problem("*", "*", "?", "JSON-encodable values")])


@dataclass(frozen=True)
class Batch:
    """Rows [start, stop) of the caller's table."""

    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    def halves(self) -> tuple[Batch, Batch]:
        middle = self.start + self.size // 2
        return Batch(self.start, middle), Batch(middle, self.stop)


def plan_batches(table: Table, contract: Contract, *, batch_rows: int, max_batch_bytes: int) -> Iterator[Batch]:
    """Batches of at most batch_rows rows, sized from a sample so a body stays under max_batch_bytes.

    The sample is an estimate; a batch that still comes out too large is halved when it is encoded.
    """
    n = table.n_rows
    if n == 0:
        return
    sample = table.slice(0, min(n, 200))
    per_row = max(1.0, len(encode(sample, contract, "predict")) / sample.n_rows)
    by_bytes = max(1, int(max_batch_bytes * 0.9 / per_row))
    size = max(1, min(batch_rows, by_bytes))
    for start in range(0, n, size):
        yield Batch(start, min(start + size, n))


def encode_batch(
    table: Table, contract: Contract, batch: Batch, method: Method, max_batch_bytes: int
) -> list[tuple[Batch, bytes]]:
    """Encode one batch, halving it until each part fits the byte budget.

    A batch of the whole table (every one-row call) is encoded from the table itself, not from a copy of its rows.
    """
    rows = table if batch.start == 0 and batch.stop == table.n_rows else table.slice(batch.start, batch.stop)
    body = encode(rows, contract, method)
    if len(body) <= max_batch_bytes or batch.size == 1:
        return [(batch, body)]
    first, second = batch.halves()
    return [
        *encode_batch(table, contract, first, method, max_batch_bytes),
        *encode_batch(table, contract, second, method, max_batch_bytes),
    ]
