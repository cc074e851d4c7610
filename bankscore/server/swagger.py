"""The endpoint's swagger.json: shaped like a deployed AutoML service's, but truthful.

Deployed services often declare outputs they never return (int64 `[0]` for "yes"/"no"); this
document declares what this server really answers, so clients built from it are right.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from ..bankmarketing.schema import SAMPLE_ROWS
from .model import Model, base_value_meaning
from .payload import SERVED_METHODS, ServedEnvelope, ServedMethod

# The types below are what to send; this is what is also read, as Azure ML services read it (their
# studio samples send every value as a string), so a client built from the document is not misled.
ROW_DESCRIPTION = (
    "One row, each column as its JSON type. Also read, as Azure ML services read them: a numeric string in a "
    'number column ("-1.8", " 1e3 ") and a string of digits in an integer column ("57"), as that number; a '
    "number or boolean in a string column, as its text. Refused, naming the row and column: null, "
    "NaN and infinite numbers, a fraction in an integer column, a boolean in a number column."
)

_JSON_TYPES: dict[str, dict[str, str]] = {
    "int64": {"type": "integer", "format": "int64"},
    "double": {"type": "number", "format": "double"},
    "string": {"type": "string"},
}


# How every Azure ML swagger declares its auth: the key or token as `Authorization: Bearer ...`.
_BEARER: Final[dict[str, str]] = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "For example: Bearer abc123",
}


def _row_schema(model: Model) -> dict[str, Any]:
    schema = model.schema
    properties: dict[str, Any] = {}
    for name in schema.columns:
        prop: dict[str, Any] = dict(_JSON_TYPES[schema.types[name]])
        if schema.types[name] == "string":
            # Levels are a hint, not an enum: unseen levels are accepted and scored.
            prop["x-bankscore-levels"] = list(schema.levels.get(name, ()))
        properties[name] = prop
    return {
        "type": "object",
        "description": ROW_DESCRIPTION,
        "required": list(schema.columns),
        "additionalProperties": False,
        "properties": properties,
    }


def _methods(model: Model, envelope: ServedEnvelope) -> tuple[ServedMethod, ...]:
    """The methods a body may ask for: explain where the envelope has it and the model can be explained."""
    methods = SERVED_METHODS[envelope]
    if model.explain_refusal is not None:
        methods = tuple(m for m in methods if m != "explain")
    return methods


def _explain_schema(model: Model) -> dict[str, Any]:
    """`Results` for method explain: an object, not one item per row."""
    features = list(model.schema.columns)
    classes = list(model.classes)
    number = {"type": "number", "format": "double"}
    return {
        "type": "object",
        "description": (
            "What method explain answers: for every row, base_value plus the sum of its contributions is the "
            f"log-odds of the positive class {classes[1]!r}, log(p / (1 - p)) with p its probability, exactly "
            "up to float rounding. Each contribution is one input column's share of that, in log-odds "
            "(positive: towards the positive class). The base value is "
            f"{base_value_meaning(model.estimator)}."
        ),
        "required": [
            "features",
            "scale",
            "classes",
            "positive_class",
            "base_value",
            "predictions",
            "probabilities",
            "contributions",
        ],
        "properties": {
            "features": {
                "type": "array",
                "description": "The input columns the contributions are for, in this order (the row schema's).",
                "items": {"type": "string", "enum": features},
                "example": features,
            },
            "scale": {"type": "string", "enum": ["log_odds"], "description": "The scale of base and contributions."},
            "classes": {"type": "array", "items": {"type": "string"}, "example": classes},
            "positive_class": {"type": "string", "enum": [classes[1]]},
            "base_value": {**number, "description": "One number for all rows, in log-odds."},
            "predictions": {
                "type": "array",
                "description": "One label per row, in order, as method predict answers.",
                "items": {"type": "string", "enum": classes},
            },
            "probabilities": {
                "type": "array",
                "description": f"P({classes[1]!r}) per row, in order, as method predict_proba's second column.",
                "items": number,
            },
            "contributions": {
                "type": "array",
                "description": "One list per row, in order; in each, one number per feature, in `features` order.",
                "items": {
                    "type": "array",
                    "items": number,
                    "minItems": len(features),
                    "maxItems": len(features),
                },
            },
        },
    }


def _results_schema(model: Model, methods: tuple[ServedMethod, ...]) -> dict[str, Any]:
    classes = list(model.classes)
    description = (
        f"One item per input row, in order. With method predict: the class label, one of {classes}. "
        f"With method predict_proba: a list of {len(classes)} probabilities in the class order {classes}."
    )
    if "explain" not in methods:
        return {
            "type": "array",
            "format": "numpy.ndarray",
            "description": description,
            "items": {},
            "x-bankscore-classes": classes,
            "x-bankscore-items": _item_schemas(classes),
        }
    # Swagger 2.0 has no oneOf: an array for predict and predict_proba, an object for explain, so no type.
    return {
        "description": description + " With method explain: an object, ExplainResults.",
        "x-bankscore-classes": classes,
        "x-bankscore-items": _item_schemas(classes),
        "x-bankscore-results": {
            "predict": {"type": "array", "items": {"type": "string", "enum": classes}},
            "predict_proba": {"type": "array", "items": _item_schemas(classes)["predict_proba"]},
            "explain": {"$ref": "#/definitions/ExplainResults"},
        },
    }


def _item_schemas(classes: list[str]) -> dict[str, Any]:
    return {
        "predict": {"type": "string", "enum": classes},
        "predict_proba": {
            "type": "array",
            "items": {"type": "number", "format": "double"},
            "minItems": len(classes),
            "maxItems": len(classes),
        },
    }


def _definitions(model: Model, envelope: ServedEnvelope) -> dict[str, Any]:
    rows = {"type": "array", "minItems": 1, "items": _row_schema(model)}
    sample = [dict(r) for r in SAMPLE_ROWS]
    methods = _methods(model, envelope)
    method = {"type": "string", "enum": list(methods), "default": "predict"}
    if "explain" in methods:
        method["description"] = (
            "predict: labels; predict_proba: probabilities per class; explain: per-row contributions to the "
            "log-odds of the positive class, with the base value (see ExplainResults)."
        )
    error = {
        "type": "object",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "Each cell that broke the schema (row index, column, value, expected type).",
                "items": {"type": "object"},
            },
            "error_count": {"type": "integer", "format": "int32"},
        },
    }
    if envelope == "inputs":
        service_input: dict[str, Any] = {
            "type": "object",
            "required": ["Inputs"],
            "additionalProperties": False,
            "properties": {
                "Inputs": {
                    "type": "object",
                    "required": ["data"],
                    "additionalProperties": False,
                    "properties": {"data": {**rows, "format": "pandas.DataFrame:records"}},
                },
                "GlobalParameters": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"method": method},
                },
            },
            "example": {"Inputs": {"data": sample}, "GlobalParameters": {"method": "predict"}},
        }
        service_output: dict[str, Any] = {
            "type": "object",
            "required": ["Results"],
            "properties": {"Results": _results_schema(model, methods)},
            "example": {"Results": ["yes", "no"]},
        }
    else:
        service_input = {
            "type": "object",
            "required": ["data"],
            "additionalProperties": False,
            "properties": {"data": rows, "method": method},
            "example": {"data": sample},
        }
        results = _results_schema(model, methods)
        service_output = {
            "type": "string",
            "format": "json",
            "description": (
                'JSON text (the body is a JSON string holding JSON): {"result": [...]} on success, where '
                f"{results['description'][0].lower()}{results['description'][1:]} "
                'When the rows are rejected the service answers HTTP 200 with {"error": "<message>"}, '
                "as the 2020-21 AutoML services do."
            ),
            "x-bankscore-encoded": {
                "type": "object",
                "properties": {"result": results, "error": {"type": "string"}},
            },
            "x-bankscore-classes": list(model.classes),
            "example": '{"result": ["yes", "no"]}',
        }
    definitions = {"ServiceInput": service_input, "ServiceOutput": service_output, "ErrorResponse": error}
    if "explain" in methods:
        definitions["ExplainResults"] = _explain_schema(model)
    return definitions


def _explain_extension(model: Model, envelope: ServedEnvelope) -> dict[str, Any]:
    """The top-level `x-bankscore-explain`: present exactly when the service explains rows, so clients
    know to ask (GlobalParameters.method) and how to read the answer."""
    if "explain" not in _methods(model, envelope):
        return {}
    return {
        "x-bankscore-explain": {
            "method": "explain",
            "scale": "log_odds",
            "positive_class": model.classes[1],
            "features": list(model.schema.columns),
            "answer": "object",
            "base_value": base_value_meaning(model.estimator),
        }
    }


def swagger_v2(model: Model, envelope: ServedEnvelope, title: str = "bankscore-local") -> dict[str, Any]:
    error_ref = {
        "description": "The request failed; the body says why.",
        "schema": {"$ref": "#/definitions/ErrorResponse"},
    }
    return {
        "swagger": "2.0",
        "info": {
            "title": title,
            "description": f"API specification for the Azure Machine Learning service {title}",
            "version": "1.0",
            "x-bankscore-model": {"name": model.name, "version": model.version, "envelope": envelope},
        },
        "schemes": ["https", "http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"Bearer": dict(_BEARER)},
        "paths": {
            "/": {
                "get": {
                    "operationId": "ServiceHealthCheck",
                    "description": ("Simple health check endpoint to ensure the service is up at any given point."),
                    "responses": {
                        "200": {
                            "description": "The service is up; the body is the text 'Healthy'.",
                            "schema": {"type": "string"},
                            "examples": {"text/plain": "Healthy"},
                        },
                        "default": error_ref,
                    },
                }
            },
            "/score": {
                "post": {
                    "operationId": "RunMLService",
                    "description": "Run web service's model and get the prediction output",
                    "security": [{"Bearer": []}],
                    "parameters": [
                        {
                            "name": "serviceInputPayload",
                            "in": "body",
                            "required": True,
                            "description": ("The input payload for executing the real-time machine learning service."),
                            "schema": {"$ref": "#/definitions/ServiceInput"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The service processed the input and returned one result per row.",
                            "schema": {"$ref": "#/definitions/ServiceOutput"},
                        },
                        "default": error_ref,
                    },
                }
            },
            "/swagger.json": {
                "get": {
                    "operationId": "GetSwaggerSpec",
                    "description": "Get the Swagger specification.",
                    "parameters": [
                        {
                            "name": "version",
                            "in": "query",
                            "required": False,
                            "type": "string",
                            "enum": list(SWAGGER_VERSIONS),
                            "description": "2 for Swagger 2.0 (default), 3 for OpenAPI 3.0.3.",
                        }
                    ],
                    "responses": {
                        "200": {"description": "The specification.", "schema": {"type": "object"}},
                        "default": error_ref,
                    },
                }
            },
        },
        "definitions": _definitions(model, envelope),
        **_explain_extension(model, envelope),
    }


def _refs_to_v3(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (v.replace("#/definitions/", "#/components/schemas/") if k == "$ref" else _refs_to_v3(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_refs_to_v3(v) for v in node]
    return node


def swagger_v3(model: Model, envelope: ServedEnvelope, title: str = "bankscore-local") -> dict[str, Any]:
    """The same document as OpenAPI 3.0.3, for tools that no longer read Swagger 2.0."""
    v2 = _refs_to_v3(copy.deepcopy(swagger_v2(model, envelope, title)))
    paths: dict[str, Any] = {}
    for path, ops in v2["paths"].items():
        paths[path] = {}
        for verb, op in ops.items():
            new = {k: v for k, v in op.items() if k not in ("parameters", "responses")}
            params = []
            for p in op.get("parameters", []):
                if p["in"] == "body":
                    new["requestBody"] = {
                        "required": True,
                        "description": p["description"],
                        "content": {"application/json": {"schema": p["schema"]}},
                    }
                else:
                    schema = {k: p[k] for k in ("type", "enum") if k in p}
                    params.append({k: p[k] for k in ("name", "in", "required", "description")} | {"schema": schema})
            if params:
                new["parameters"] = params
            responses = {}
            for code, resp in op["responses"].items():
                out = {"description": resp["description"]}
                if "schema" in resp:
                    media = "text/plain" if path == "/" and code == "200" else "application/json"
                    out["content"] = {media: {"schema": resp["schema"]}}
                responses[code] = out
            new["responses"] = responses
            paths[path][verb] = new
    return {
        "openapi": "3.0.3",
        "info": v2["info"],
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": v2["definitions"],
            "securitySchemes": v2["securityDefinitions"],
        },
        **{k: v for k, v in v2.items() if k.startswith("x-")},
    }


def swagger_v31(model: Model, envelope: ServedEnvelope, title: str = "bankscore-local") -> dict[str, Any]:
    """The same document as OpenAPI 3.1.0, which Microsoft's server also serves (`?version=3.1`).

    Nothing in the 3.0 document reads differently under 3.1's JSON Schema (no `nullable`, no boolean
    `exclusiveMinimum`), so only the version changes.
    """
    document = swagger_v3(model, envelope, title)
    document["openapi"] = "3.1.0"
    return document


SWAGGER_VERSIONS: Final = ("2", "3", "3.1")
"""What `GET /swagger.json?version=` serves, as Microsoft's server does; no version means 2."""


# ------------------------------------------------------------------ a score script without schema decorators

# What Microsoft's server (azureml-inference-server-http 1.5.1) publishes for a run() without schema
# decorators, as the AutoML v1 explainer deployment's is: its templates with empty input and output
# schemas (`{"type": "object", "example": {}}`), which describe nothing a client can use.
# tests/server/test_explain.py checks them against the server itself.
_HEALTHY_TEXT: Final = "If service is up and running, this response will be returned with the content 'Healthy'"
_SCORED_TEXT: Final = "The service processed the input correctly and provided a result prediction, if applicable."
_SCHEMALESS_V2: Final[dict[str, Any]] = {
    "swagger": "2.0",
    "info": {"title": "TITLE", "description": "DESCRIPTION", "version": "1.0"},
    "schemes": ["https"],
    "consumes": ["application/json"],
    "produces": ["application/json"],
    "securityDefinitions": {"Bearer": _BEARER},
    "paths": {
        "/": {
            "get": {
                "operationId": "ServiceHealthCheck",
                "description": "Simple health check endpoint to ensure the service is up at any given point.",
                "responses": {
                    "200": {
                        "description": _HEALTHY_TEXT,
                        "schema": {"type": "string"},
                        "examples": {"application/json": "Healthy"},
                    },
                    "default": {
                        "description": "The service failed to execute due to an error.",
                        "schema": {"$ref": "#/definitions/ErrorResponse"},
                    },
                },
            }
        },
        "/score": {
            "post": {
                "operationId": "RunMLService",
                "description": "Run web service's model and get the prediction output",
                "security": [{"Bearer": []}],
                "parameters": [
                    {
                        "name": "serviceInputPayload",
                        "in": "body",
                        "description": "The input payload for executing the real-time machine learning service.",
                        "schema": {"$ref": "#/definitions/ServiceInput"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": _SCORED_TEXT,
                        "schema": {"$ref": "#/definitions/ServiceOutput"},
                    },
                    "default": {
                        "description": "The service failed to execute due to an error.",
                        "schema": {"$ref": "#/definitions/ErrorResponse"},
                    },
                },
            }
        },
        "/swagger.json": {
            "get": {
                "operationId": "GetSwaggerSpec",
                "description": "Get the Swagger specification.",
                "parameters": [
                    {"name": "version", "in": "query", "required": False, "type": "integer", "enum": [2, 3]}
                ],
                "responses": {
                    "200": {"description": "The Swagger specification.", "schema": {"type": "string"}},
                    "default": {
                        "description": "The service failed to execute due to an error.",
                        "schema": {"$ref": "#/definitions/ErrorResponse"},
                    },
                },
            }
        },
    },
    "definitions": {
        "ServiceInput": {"type": "object", "example": {}},
        "ServiceOutput": {"type": "object", "example": {}},
        "ErrorResponse": {"type": "object", "properties": {"message": {"type": "string"}}},
    },
}
_SCHEMALESS_V3: Final[dict[str, Any]] = {
    "openapi": "3.0.3",
    "info": {"title": "TITLE", "description": "DESCRIPTION", "version": "1.0"},
    "security": [{"Bearer": []}],
    "paths": {
        "/": {
            "get": {
                "operationId": "ServiceHealthCheck",
                "description": "Simple health check endpoint to ensure the service is up at any given point.",
                "responses": {
                    "200": {
                        "description": _HEALTHY_TEXT,
                        "content": {"text/plain": {"schema": {"type": "string", "example": "Healthy"}}},
                    },
                    "default": {
                        "description": "The service failed to execute due to an error.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                    },
                },
            }
        },
        "/score": {
            "post": {
                "operationId": "RunMLService",
                "description": "Run web service's model and get the prediction output",
                "security": [{"Bearer": []}],
                "requestBody": {
                    "description": "The input payload for executing the real-time machine learning service.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceInput"}}},
                },
                "responses": {
                    "200": {
                        "description": _SCORED_TEXT,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceOutput"}}},
                    },
                    "default": {
                        "description": "The service failed to execute due to an error.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                    },
                },
            }
        },
        "/swagger.json": {
            "get": {
                "operationId": "GetSwaggerSpec",
                "description": "Get the Swagger specification.",
                "parameters": [
                    {"name": "version", "in": "query", "required": False, "schema": {"type": "integer", "enum": [2, 3]}}
                ],
                "responses": {
                    "200": {
                        "description": "The Swagger specification.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "default": {
                        "description": "The service failed to execute due to an error.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
                    },
                },
            }
        },
    },
    "components": {
        "schemas": {
            "ServiceInput": {"type": "object", "example": {}},
            "ServiceOutput": {"type": "object", "example": {}},
            "ErrorResponse": {"type": "object", "properties": {"message": {"type": "string"}}},
        },
        "securitySchemes": {
            "Bearer": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "description": "For example: Bearer abc123",
            }
        },
    },
}


def schemaless_swagger(version: str, title: str = "bankscore-local") -> dict[str, Any] | None:
    """The document Microsoft's server serves for `?version=` of a script without schema decorators, or None
    for a version it does not know (2 and 2.0, 3 and 3.0, 3.1 as for every script)."""
    if version in ("2", "2.0"):
        document = copy.deepcopy(_SCHEMALESS_V2)
    elif version in ("3", "3.0", "3.1"):
        document = copy.deepcopy(_SCHEMALESS_V3)
        if version == "3.1":
            document["openapi"] = "3.1.0"
    else:
        return None
    document["info"]["title"] = title
    document["info"]["description"] = f"API specification for the Azure Machine Learning service {title}"
    return document
