"""The client against Microsoft's own inference server: the swaggers and bodies real services produce.

Gen A declares int64 `[0]` and answers "yes"/"no" double-encoded; gen B answers plain JSON; both
fail the model in their own way. Both clients must read all of it and agree with the model in-process.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pytest

from bankscore import ContractError, ModelError
from bankscore.bankmarketing.synthetic import generate
from bankscore.server.model import Model

if TYPE_CHECKING:
    from tests.support.twins import ClientFactory

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("peer")]  # the peers start once, on one worker


def rows(n: int = 400, seed: int = 17) -> Any:
    return generate(n, seed=seed, label=False)


def test_gen_b_swagger_and_predictions(make_client: ClientFactory, gen_b: Any, model: Model) -> None:
    frame = rows()
    with make_client(gen_b.scoring_uri, batch_rows=150, concurrency=1) as client:
        contract = client.contract
        assert contract.envelope == "inputs"
        assert contract.supports_proba
        assert client.predict(frame).tolist() == model.predict(frame).tolist()
        proba = client.predict_proba(frame.head(50))
        assert list(proba.columns) == ["no", "yes"], "Bank Marketing classes, though the swagger doesn't say"
        np.testing.assert_allclose(proba.to_numpy(), model.predict_proba(frame.head(50)), rtol=1e-12)


def test_gen_a_trusts_the_values_over_the_declared_int64(make_client: ClientFactory, gen_a: Any, model: Model) -> None:
    frame = rows(300, seed=5)
    with make_client(gen_a.scoring_uri, batch_rows=120, concurrency=1) as client:
        contract = client.contract
        assert contract.envelope == "data"
        assert "integer" in contract.declared_output
        labels = client.predict(frame)
        assert labels.tolist() == model.predict(frame).tolist()
        assert set(labels) <= {"yes", "no"}
        with pytest.raises(ContractError, match="predict_proba"):
            client.predict_proba(frame)


def test_gen_a_prime_predict_proba_with_a_swagger_that_offers_method(
    make_client: ClientFactory, gen_a_prime: Any, model: Model
) -> None:
    swagger = httpx.get(gen_a_prime.swagger_uri).json()
    frame = rows(60)
    with make_client(gen_a_prime.scoring_uri, swagger=swagger, concurrency=1) as client:
        if not client.contract.supports_proba:
            pytest.fail("the gen A' swagger should declare the top-level method")
        np.testing.assert_allclose(client.predict_proba(frame).to_numpy(), model.predict_proba(frame), rtol=1e-12)


def _renamed(swagger: dict[str, Any], envelope_path: list[str]) -> dict[str, Any]:
    """A swagger that lies about one column's name: what a stale saved swagger.json does to a client."""
    document = copy.deepcopy(swagger)
    node = document["definitions"]["ServiceInput"]
    for key in envelope_path:
        node = node["properties"][key]
    items = node["items"]
    items["properties"]["duration_s"] = items["properties"].pop("duration")
    items["required"] = [("duration_s" if c == "duration" else c) for c in items["required"]]
    return document


def test_gen_a_model_failure_is_a_model_error_not_a_result(make_client: ClientFactory, gen_a: Any) -> None:
    swagger = _renamed(httpx.get(gen_a.swagger_uri).json(), ["data"])
    frame = rows(5).rename(columns={"duration": "duration_s"})
    with make_client(gen_a.scoring_uri, swagger=swagger) as client, pytest.raises(ModelError) as caught:
        client.predict(frame)
    assert caught.value.status_code == 200, "gen A reports model failures in-band"
    assert "duration" in str(caught.value)


def test_gen_b_model_failure_is_a_model_error_and_not_retried(make_client: ClientFactory, gen_b: Any) -> None:
    swagger = _renamed(httpx.get(gen_b.swagger_uri).json(), ["Inputs", "data"])
    frame = rows(5).rename(columns={"duration": "duration_s"})
    with make_client(gen_b.scoring_uri, swagger=swagger, max_retries=5) as client:
        started = time.monotonic()
        with pytest.raises(ModelError) as caught:
            client.predict(frame)
        assert time.monotonic() - started < 5
    error = caught.value
    assert error.status_code == 500
    assert error.client_request_id and error.request_id == error.client_request_id, "Microsoft echoes our id"
