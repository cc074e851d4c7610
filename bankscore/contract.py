"""Read an endpoint's swagger.json into the contract the client speaks.

Azure generates three request envelopes (gen A `data`, gen B `Inputs`/`GlobalParameters`, MLflow
`input_data`) and often declares output types it never returns; this module decides the envelope
and the columns from the document, and deliberately records the declared output only as a hint:
the decoder trusts the values it receives.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ._exceptions import ContractError
from ._types import ColumnType, Envelope
from .explanations import ExplainSpec

ENVELOPE_NAMES: dict[Envelope, str] = {
    "data": 'gen A: {"data": [rows]}',
    "inputs": 'gen B: {"Inputs": {"data": [rows]}, "GlobalParameters": {...}}',
    "mlflow": 'MLflow: {"input_data": {"columns", "data"}}',
}


@dataclass(frozen=True)
class Column:
    """One input column of /score: its wire name, JSON type, whether it may be left out, the levels seen."""

    name: str
    type: ColumnType
    required: bool = True
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contract:
    """What /score accepts and (as declared) returns."""

    envelope: Envelope
    columns: tuple[Column, ...]
    supports_proba: bool
    declared_output: str
    classes: tuple[str, ...] | None = None
    title: str = ""
    score_path: str = "/score"
    example: Any = field(default=None, compare=False)
    spec_version: str = field(default="", compare=False)
    """The document's `swagger` or `openapi` version ("2.0", "3.0.3", "3.1.0"): where the contract was read."""
    explain: ExplainSpec | None = field(default=None, compare=False)
    """How the service explains rows, when its swagger says it does (`x-bankscore-explain`)."""

    @functools.cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def types(self) -> dict[str, ColumnType]:
        """Each column's type by name: a new dict on each call, the caller's to change."""
        return dict(self._types)

    @functools.cached_property
    def _types(self) -> dict[str, ColumnType]:
        """`types` read once (the contract is frozen), for the checks that only look names up; never handed out."""
        return {c.name: c.type for c in self.columns}

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        """The column names as a set, for the checks of every call."""
        return frozenset(self._types)

    def class_names(self) -> tuple[str, ...] | None:
        """Classes as declared, or the Bank Marketing ones when the columns are that model's."""
        if self.classes:
            return self.classes
        from .bankmarketing.schema import CLASSES, COLUMN_NAMES  # the domain imports Column from here

        if self.column_names == COLUMN_NAMES:
            return CLASSES
        return None

    def proba_columns(self, width: int) -> list[str]:
        """Names for predict_proba's `width` columns: the classes when their count matches, else class_0, …"""
        declared = self.class_names()
        if declared and len(declared) == width:
            return list(declared)
        return [f"class_{i}" for i in range(width)]


def load_swagger_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        document = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ContractError(f"swagger file {path} does not exist") from None
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"swagger file {path} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ContractError(f"swagger file {path} holds {type(document).__name__}, not a swagger object")
    return document


def parse_swagger(document: Mapping[str, Any]) -> Contract:
    """Swagger 2.0 or OpenAPI 3.x → Contract; ContractError says what's missing."""
    if not isinstance(document, Mapping) or not ("swagger" in document or "openapi" in document):
        raise ContractError("this is not a swagger/OpenAPI document (no 'swagger' or 'openapi' key)")
    path, operation = _score_operation(document)
    body = _request_schema(document, operation)
    if body is None:
        raise ContractError(f"POST {path} in the swagger declares no JSON request body")
    props = _resolve(document, body).get("properties", {})
    output = _response_schema(document, operation)
    title = str(document.get("info", {}).get("title", ""))
    example = _resolve(document, body).get("example")
    if example is None:
        example = _media_example(document, operation)
    if "Inputs" in props:
        inputs = _resolve(document, props["Inputs"])
        data = _resolve(document, inputs.get("properties", {}).get("data", {}))
        columns = _columns(document, data.get("items", {}))
        envelope: Envelope = "inputs"
        supports_proba = True
    elif "data" in props:
        data = _resolve(document, props["data"])
        columns = _columns(document, data.get("items", {}))
        envelope = "data"
        supports_proba = "method" in props
    elif "input_data" in props:
        columns = _mlflow_columns(document, _resolve(document, props["input_data"]), example)
        envelope = "mlflow"
        supports_proba = False
    elif not props:
        raise ContractError(
            f"POST {path} publishes no input schema (a score script without schema decorators, such as an AutoML "
            "explainer deployment); pass swagger=PATH to a saved swagger.json of its model"
        )
    else:
        found = ", ".join(sorted(props))
        raise ContractError(
            f"POST {path} takes an envelope bankscore doesn't know (found {found}); "
            "expected 'data', 'Inputs' or 'input_data'"
        )
    return Contract(
        envelope=envelope,
        columns=columns,
        supports_proba=supports_proba,
        declared_output=_describe_output(document, output),
        classes=_declared_classes(document, output),
        title=title,
        score_path=path,
        example=example,
        spec_version=str(document.get("swagger") or document.get("openapi") or ""),
        explain=ExplainSpec.from_swagger(document),
    )


def _score_operation(document: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    paths = document.get("paths") or {}
    for path, item in paths.items():
        if str(path).rstrip("/").endswith("/score") and isinstance(item, Mapping) and "post" in item:
            return str(path), item["post"]
    shown = ", ".join(paths) or "none"
    raise ContractError(f"the swagger has no POST /score operation (paths: {shown}); is it a scoring service's?")


def _request_schema(document: Mapping[str, Any], operation: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "body":
            schema: Mapping[str, Any] = parameter.get("schema", {})
            return schema
    content = _resolve(document, operation.get("requestBody", {})).get("content", {})
    for media, spec in content.items():
        if "json" in media:
            found: Mapping[str, Any] = spec.get("schema", {})
            return found
    return None


def _media_example(document: Mapping[str, Any], operation: Mapping[str, Any]) -> Any:
    """OpenAPI 3 may put the request example beside the schema: `example`, or the first of `examples`."""
    content = _resolve(document, operation.get("requestBody", {})).get("content", {})
    for media, spec in content.items():
        if "json" in media and isinstance(spec, Mapping):
            if "example" in spec:
                return spec["example"]
            for named in (spec.get("examples") or {}).values():
                value = _resolve(document, named).get("value")
                if value is not None:
                    return value
    return None


def _response_schema(document: Mapping[str, Any], operation: Mapping[str, Any]) -> Mapping[str, Any]:
    response = _resolve(document, operation.get("responses", {}).get("200", {}))
    if "schema" in response:
        return _resolve(document, response["schema"])
    for media, spec in response.get("content", {}).items():
        if "json" in media:
            return _resolve(document, spec.get("schema", {}))
    return {}


def _resolve(document: Mapping[str, Any], node: Any) -> Mapping[str, Any]:
    seen = 0
    while isinstance(node, Mapping) and "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            raise ContractError(f"the swagger refers to an external document ({ref}); bankscore reads one file")
        target: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise ContractError(f"the swagger's reference {ref} points nowhere")
            target = target[part]
        node = target
        seen += 1
        if seen > 32:
            raise ContractError(f"the swagger's reference {ref} loops")
    return node if isinstance(node, Mapping) else {}


def _column_type(document: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[ColumnType, bool]:
    """The JSON type a column's schema names and whether it admits null, in every form the specs allow.

    Swagger 2.0 has `x-nullable`; OpenAPI 3.0 `nullable: true`; OpenAPI 3.1 `type: ["integer", "null"]`
    or `anyOf`/`oneOf` with a `{"type": "null"}` branch; any of them may wrap the type in `allOf`.
    """
    nullable = bool(spec.get("nullable") or spec.get("x-nullable"))
    kind = spec.get("type")
    if isinstance(kind, list):
        nullable = nullable or "null" in kind
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        for combinator in ("anyOf", "oneOf", "allOf"):
            branches = [_resolve(document, b) for b in spec.get(combinator) or ()]
            kinds = []
            for branch in branches:
                branch_kind, branch_nullable = _column_type(document, branch)
                nullable = nullable or branch_nullable or branch.get("type") == "null"
                if branch.get("type") != "null":
                    kinds.append(branch_kind)
            if kinds:
                # A column declared as one type (or integer-or-number: a number) has that type; anything else is open.
                distinct = set(kinds)
                if len(distinct) == 1:
                    return kinds[0], nullable
                if distinct == {"int64", "double"}:
                    return "double", nullable
                return "any", nullable
    types: dict[Any, ColumnType] = {"integer": "int64", "number": "double", "string": "string", "boolean": "boolean"}
    return types.get(kind, "any"), nullable


def _columns(document: Mapping[str, Any], items: Any) -> tuple[Column, ...]:
    items = _resolve(document, items)
    properties = items.get("properties", {})
    required = items.get("required")
    out = []
    for name, spec in properties.items():
        spec = _resolve(document, spec)
        kind, nullable = _column_type(document, spec)
        # Some deployed swaggers omit `required`; a column the model reads is required all the same.
        is_required = (name in required if isinstance(required, list) else True) and not nullable
        levels = tuple(str(v) for v in spec.get("x-bankscore-levels", spec.get("enum", ())) if v is not None)
        out.append(Column(str(name), kind, is_required, levels))
    if not out:
        raise ContractError("the swagger declares no input columns for /score")
    return tuple(out)


def _mlflow_columns(document: Mapping[str, Any], spec: Mapping[str, Any], example: Any) -> tuple[Column, ...]:
    """MLflow swaggers carry the column names in their example; types come from the example values."""
    sample = example.get("input_data") if isinstance(example, Mapping) else None
    if not isinstance(sample, Mapping) or not sample.get("columns"):
        raise ContractError("the MLflow swagger has no example naming its columns; pass swagger=dict(...) that does")
    rows = sample.get("data") or [[None] * len(sample["columns"])]
    columns = []
    for i, name in enumerate(sample["columns"]):
        value = rows[0][i] if i < len(rows[0]) else None
        kind: ColumnType
        if isinstance(value, bool):
            kind = "boolean"
        elif isinstance(value, int):
            kind = "int64"
        elif isinstance(value, float):
            kind = "double"
        elif isinstance(value, str):
            kind = "string"
        else:
            kind = "any"
        columns.append(Column(str(name), kind))
    return tuple(columns)


def _describe_output(document: Mapping[str, Any], output: Mapping[str, Any]) -> str:
    kind = output.get("type", "unspecified")
    if kind == "object":
        props = output.get("properties", {})
        inner = ", ".join(f"{k}: {_describe_output(document, _resolve(document, v))}" for k, v in props.items())
        return f"object {{{inner}}}"
    if kind == "array":
        items = _resolve(document, output.get("items", {}))
        item_kind = items.get("type", "any")
        fmt = items.get("format")
        return f"array of {item_kind}{f'/{fmt}' if fmt else ''}"
    return str(kind)


def _declared_classes(document: Mapping[str, Any], output: Mapping[str, Any]) -> tuple[str, ...] | None:
    classes = output.get("x-bankscore-classes")
    if classes is None:
        results = _resolve(document, output.get("properties", {}).get("Results", {}))
        classes = results.get("x-bankscore-classes")
    return tuple(str(c) for c in classes) if classes else None
