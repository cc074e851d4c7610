"""The served swagger.json validates, is shaped like AutoML's, and tells the truth about responses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from bankscore.bankmarketing.schema import COLUMN_NAMES, SAMPLE_ROWS
from tests.support.common import auth


def fetch(endpoint: Any, version: str | None = None) -> dict[str, Any]:
    params = {"version": version} if version else None
    response = httpx.get(endpoint.base_url + "/swagger.json", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    """A definition with its refs resolved, usable by jsonschema."""
    definitions = document["definitions"]
    return {**definitions[name], "definitions": definitions}


@pytest.mark.parametrize("contract", ["inputs", "data"])
def test_swagger_2_validates(start_endpoint: Any, contract: str) -> None:
    document = fetch(start_endpoint(envelope=contract))
    assert document["swagger"] == "2.0"
    validate(document)  # raises on any violation of the Swagger 2.0 schema


@pytest.mark.parametrize("contract", ["inputs", "data"])
def test_openapi_3_validates(start_endpoint: Any, contract: str) -> None:
    document = fetch(start_endpoint(envelope=contract), "3")
    assert document["openapi"] == "3.0.3"
    validate(document)
    body = document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ServiceInput"}


@pytest.mark.parametrize("contract", ["inputs", "data"])
def test_openapi_3_1_validates_and_reads_as_the_same_contract(start_endpoint: Any, contract: str) -> None:
    from bankscore import parse_swagger

    endpoint = start_endpoint(envelope=contract)
    document = fetch(endpoint, "3.1")
    assert document["openapi"] == "3.1.0"
    validate(document)  # against the 3.1 schema, which the validator picks from the version
    assert parse_swagger(document) == parse_swagger(fetch(endpoint)) == parse_swagger(fetch(endpoint, "3"))


def test_validator_is_not_a_rubber_stamp(endpoint: Any) -> None:
    document = fetch(endpoint)
    del document["paths"]["/score"]["post"]["responses"]
    with pytest.raises(OpenAPIValidationError):
        validate(document)


def test_shaped_like_a_deployed_automl_service(endpoint: Any) -> None:
    document = fetch(endpoint)
    assert document["info"]["description"].startswith("API specification for the Azure Machine Learning service")
    assert document["securityDefinitions"]["Bearer"] == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "For example: Bearer abc123",
    }
    assert "host" not in document and "basePath" not in document
    score = document["paths"]["/score"]["post"]
    assert score["operationId"] == "RunMLService"
    assert score["security"] == [{"Bearer": []}]
    assert score["parameters"][0]["name"] == "serviceInputPayload"
    assert document["paths"]["/"]["get"]["operationId"] == "ServiceHealthCheck"
    assert document["paths"]["/swagger.json"]["get"]["operationId"] == "GetSwaggerSpec"
    inputs = document["definitions"]["ServiceInput"]["properties"]["Inputs"]
    data = inputs["properties"]["data"]
    assert data["format"] == "pandas.DataFrame:records"
    assert list(data["items"]["properties"]) == list(COLUMN_NAMES)
    assert data["items"]["required"] == list(COLUMN_NAMES)
    assert data["items"]["properties"]["age"] == {"type": "integer", "format": "int64"}
    assert data["items"]["properties"]["emp.var.rate"] == {"type": "number", "format": "double"}
    assert data["items"]["properties"]["job"]["type"] == "string"
    assert "GlobalParameters" in document["definitions"]["ServiceInput"]["properties"]
    assert document["definitions"]["ServiceOutput"]["required"] == ["Results"]


def test_example_request_is_valid_and_scores(endpoint: Any) -> None:
    document = fetch(endpoint)
    example = document["definitions"]["ServiceInput"]["example"]
    jsonschema.validate(example, _schema(document, "ServiceInput"))
    response = httpx.post(endpoint.scoring_uri, json=example, headers=auth())
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_inputs_output_schema_describes_real_responses(endpoint: Any, method: str) -> None:
    document = fetch(endpoint)
    body = {"Inputs": {"data": [dict(r) for r in SAMPLE_ROWS]}, "GlobalParameters": {"method": method}}
    response = httpx.post(endpoint.scoring_uri, json=body, headers=auth()).json()
    jsonschema.validate(response, _schema(document, "ServiceOutput"))
    results = document["definitions"]["ServiceOutput"]["properties"]["Results"]
    for item in response["Results"]:
        jsonschema.validate(item, results["x-bankscore-items"][method])
    wrong = "predict_proba" if method == "predict" else "predict"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(response["Results"][0], results["x-bankscore-items"][wrong])


def test_data_output_schema_describes_the_double_encoded_body(data_endpoint: Any) -> None:
    document = fetch(data_endpoint)
    output = document["definitions"]["ServiceOutput"]
    assert output["type"] == "string"
    response = httpx.post(data_endpoint.scoring_uri, json={"data": [dict(SAMPLE_ROWS[0])]}, headers=auth()).json()
    jsonschema.validate(response, _schema(document, "ServiceOutput"))
    jsonschema.validate(json.loads(response), output["x-bankscore-encoded"])
    assert output["x-bankscore-classes"] == ["no", "yes"]


def test_error_schema_describes_real_errors(endpoint: Any) -> None:
    document = fetch(endpoint)
    response = httpx.post(endpoint.scoring_uri, json={"Inputs": {"data": [{"age": 1}]}}, headers=auth())
    assert response.status_code == 400
    jsonschema.validate(response.json(), _schema(document, "ErrorResponse"))
