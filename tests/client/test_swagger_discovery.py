"""Finding the contract as Microsoft's server offers it, and reading every form of it.

The server answers `GET /swagger.json` (version 2) with 404 naming the versions it has when Swagger 2.0 can't
describe the script; the client then asks those (`?version=3`, then `3.1`). A canned server on loopback plays the
routes; the documents are the ones saved from Microsoft's server (tests/support/azureml_peer/fixtures).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bankscore import ContractError, parse_swagger
from bankscore.bankmarketing.schema import COLUMN_NAMES, COLUMN_TYPES
from bankscore.contract import load_swagger_file
from tests.support.canned import Answer, CannedServer

if TYPE_CHECKING:
    from tests.support.twins import ClientFactory

FIXTURES = Path(__file__).parents[1] / "support" / "azureml_peer" / "fixtures"
OPENAPI3 = (FIXTURES / "openapi3_mlflow.json").read_bytes()
OPENAPI31 = (FIXTURES / "openapi31_gen_b.json").read_bytes()
NOT_2 = Answer(
    404,
    b'{"message": "Swagger version [2] is not supported for the scoring script. '
    b'Supported swagger versions: [3, 3.1]."}',
)
NONE_AT_ALL = Answer(404, b'{"message": "Swagger not found"}')


def test_a_404_naming_3_and_3_1_is_followed_to_version_3(make_client: ClientFactory) -> None:
    routes = {"GET /swagger.json": NOT_2, "GET /swagger.json?version=3": Answer(200, OPENAPI3)}
    with CannedServer(routes) as server, make_client(server.scoring_uri) as client:
        assert client.contract.envelope == "mlflow"
        assert client.contract.spec_version == "3.0.3"
        assert server.targets() == ["/swagger.json", "/swagger.json?version=3"]


def test_3_1_is_asked_when_3_is_missing_too(make_client: ClientFactory) -> None:
    routes = {"GET /swagger.json": NONE_AT_ALL, "GET /swagger.json?version=3.1": Answer(200, OPENAPI31)}
    with CannedServer(routes) as server, make_client(server.scoring_uri) as client:
        assert client.contract.spec_version == "3.1.0"
        assert client.contract.envelope == "inputs"
        assert server.targets() == ["/swagger.json", "/swagger.json?version=3", "/swagger.json?version=3.1"]


def test_only_the_versions_the_404_lists_are_asked(make_client: ClientFactory) -> None:
    listed = Answer(404, b'{"message": "Swagger version [2] is not valid. Supported versions: [3.1]."}')
    routes = {"GET /swagger.json": listed, "GET /swagger.json?version=3.1": Answer(200, OPENAPI31)}
    with CannedServer(routes) as server, make_client(server.scoring_uri) as client:
        assert client.contract.spec_version == "3.1.0"
        assert server.targets() == ["/swagger.json", "/swagger.json?version=3.1"]


def test_no_swagger_in_any_version_says_what_was_tried_and_what_to_do(make_client: ClientFactory) -> None:
    with (
        CannedServer({"GET /swagger.json": NONE_AT_ALL}) as server,
        make_client(server.scoring_uri) as client,
        pytest.raises(ContractError) as caught,
    ):
        _ = client.contract
    message = str(caught.value)
    assert "Swagger not found" in message
    assert "?version=3 HTTP 404" in message and "?version=3.1 HTTP 404" in message
    assert "swagger=PATH" in message
    assert len(server.targets()) == 3, "three asks, then a clear stop"


def test_other_failures_are_not_papered_over_with_fallbacks(make_client: ClientFactory) -> None:
    broken = Answer(500, b'{"message": "boom"}')
    with CannedServer({"GET /swagger.json": broken}) as server, make_client(server.scoring_uri) as client:
        with pytest.raises(ContractError, match=r"HTTP 500: .*boom"):
            _ = client.contract
        assert server.targets() == ["/swagger.json"]


def test_a_url_naming_its_version_is_asked_alone(make_client: ClientFactory) -> None:
    with CannedServer({"GET /swagger.json": NOT_2}) as server:
        url = server.base_url + "/swagger.json?version=3"
        with make_client(server.scoring_uri, swagger=url) as client, pytest.raises(ContractError, match="HTTP 404"):
            _ = client.contract
        assert server.targets() == ["/swagger.json?version=3"]


def test_the_key_is_sent_for_each_version_when_the_swagger_needs_it(make_client: ClientFactory) -> None:
    def guarded(answer: Answer) -> Any:
        return lambda seen: answer if seen.headers.get("authorization") == "Bearer k-1" else Answer(401, b"{}")

    routes = {"GET /swagger.json": guarded(NOT_2), "GET /swagger.json?version=3": guarded(Answer(200, OPENAPI3))}
    with CannedServer(routes) as server, make_client(server.scoring_uri, key="k-1") as client:
        assert client.contract.envelope == "mlflow"


# ------------------------------------------------------------------------------------------- the forms read


def test_the_saved_openapi_3_0_document_reads_the_mlflow_columns_from_its_example() -> None:
    contract = parse_swagger(load_swagger_file(FIXTURES / "openapi3_mlflow.json"))
    assert contract.envelope == "mlflow" and not contract.supports_proba
    assert contract.column_names == COLUMN_NAMES
    assert contract.types == dict(COLUMN_TYPES), "the example's values, not the `number` the items declare"
    assert "array of string" in contract.declared_output


def _gen_b_31() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OPENAPI31)
    return document


def _row_properties(document: dict[str, Any]) -> dict[str, Any]:
    inputs = document["components"]["schemas"]["ServiceInput"]["properties"]["Inputs"]
    properties: dict[str, Any] = inputs["properties"]["data"]["items"]["properties"]
    return properties


@pytest.mark.parametrize(
    ("form", "kind", "required"),
    [
        ({"type": "integer", "nullable": True}, "int64", False),  # OpenAPI 3.0
        ({"type": ["integer", "null"]}, "int64", False),  # OpenAPI 3.1
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "int64", False),
        ({"oneOf": [{"type": "number", "format": "double"}, {"type": "null"}]}, "double", False),
        ({"anyOf": [{"type": "integer"}, {"type": "number"}]}, "double", True),
        ({"allOf": [{"$ref": "#/components/schemas/Age"}]}, "int64", True),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, "any", True),
        ({"type": "integer", "x-nullable": True}, "int64", False),  # Swagger 2.0's extension
    ],
)
def test_nullable_and_combined_forms(form: dict[str, Any], kind: str, required: bool) -> None:
    document = _gen_b_31()
    document["components"]["schemas"]["Age"] = {"type": "integer", "format": "int64"}
    _row_properties(document)["age"] = form
    column = next(c for c in parse_swagger(document).columns if c.name == "age")
    assert (column.type, column.required) == (kind, required)


def test_an_example_beside_the_schema_or_among_examples_is_found() -> None:
    document = _gen_b_31()
    schema = document["components"]["schemas"]["ServiceInput"]
    example = schema.pop("example")
    media = document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    assert parse_swagger(document).example is None
    media["example"] = example
    assert parse_swagger(document).example == example
    del media["example"]
    media["examples"] = {"two rows": {"summary": "the sample", "value": copy.deepcopy(example)}}
    assert parse_swagger(document).example == example


# ------------------------------------------------------------------------------------------- the raw document


def test_swagger_returns_the_document_the_fallback_found_fetched_anew_each_time(make_client: ClientFactory) -> None:
    routes = {"GET /swagger.json": NOT_2, "GET /swagger.json?version=3": Answer(200, OPENAPI3)}
    with CannedServer(routes) as server, make_client(server.scoring_uri) as client:
        document = client.swagger()
        assert document == json.loads(OPENAPI3)
        document["info"]["title"] = "changed here"
        assert client.swagger()["info"]["title"] == json.loads(OPENAPI3)["info"]["title"]
        assert server.targets() == ["/swagger.json", "/swagger.json?version=3"] * 2


def test_swagger_of_a_saved_file_or_a_dict_needs_no_endpoint_and_a_contract_has_none(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    saved = tmp_path / "swagger.json"
    saved.write_bytes(OPENAPI31)
    unreachable = "http://127.0.0.1:9/score"
    with make_client(unreachable, swagger=saved) as client:
        assert client.swagger() == json.loads(OPENAPI31)
    given = json.loads(OPENAPI3)
    with make_client(unreachable, swagger=given) as client:
        copied = client.swagger()
        copied["paths"].clear()
        assert client.swagger() == given, "a copy: the caller's dict is never changed through it"
    with make_client(unreachable, swagger=parse_swagger(given)) as client, pytest.raises(ContractError) as caught:
        client.swagger()
    assert "keeps no swagger document" in str(caught.value) and "swagger=" in str(caught.value)


def test_swagger_refuses_a_document_that_is_no_scoring_service(make_client: ClientFactory) -> None:
    petstore = Answer(200, b'{"swagger": "2.0", "info": {"title": "pets"}, "paths": {"/pets": {"get": {}}}}')
    with (
        CannedServer({"GET /swagger.json": petstore}) as server,
        make_client(server.scoring_uri) as client,
        pytest.raises(ContractError, match=r"no POST /score operation \(paths: /pets\)"),
    ):
        client.swagger()
