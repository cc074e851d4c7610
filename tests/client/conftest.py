"""The client suite's fixtures: every client test runs twice, once per client, and checks its results against
what the endpoint itself answers to plain, hand-built requests.

Nothing here (or in the client tests) needs a trained model or the server wing: in the core-only job the
endpoints are `bankscore serve` processes of the full environment (see tests/conftest.py), and the client
tests import the core SDK alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.support.common import PRIMARY
from tests.support.twins import flavor, make_client  # noqa: F401 - the fixtures every client test takes

# ------------------------------------------------------------------------------------------- reference answers


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


class Reference:
    """What an endpoint answers to plain requests built by hand (stdlib json, plain httpx, the key header), in
    chunks small enough for any endpoint the tests start: the expected results, without a model in process."""

    def __init__(self) -> None:
        self._http = httpx.Client(timeout=60.0)

    def results(
        self,
        endpoint: Any,
        rows: pd.DataFrame | list[Mapping[str, Any]],
        method: str = "predict",
        *,
        envelope: str = "inputs",
        key: str = PRIMARY,
        chunk: int = 500,
    ) -> list[Any]:
        records = rows.to_dict(orient="records") if isinstance(rows, pd.DataFrame) else list(rows)
        records = [{str(name): _plain(value) for name, value in row.items()} for row in records]
        results: list[Any] = []
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            if envelope == "inputs":  # gen B: {"Inputs": {"data": rows}, "GlobalParameters": {"method": m}}
                body: dict[str, Any] = {"Inputs": {"data": part}, "GlobalParameters": {"method": method}}
            else:  # gen A: {"data": rows, "method": m}
                body = {"data": part, "method": method}
            response = self._http.post(
                endpoint.scoring_uri,
                content=json.dumps(body, allow_nan=False).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200, f"the reference request failed: {response.status_code} {response.text}"
            if envelope == "inputs":
                answer = json.loads(response.content)["Results"]
            else:  # a JSON string holding {"result": [...]}
                answer = json.loads(json.loads(response.content))["result"]
            assert len(answer) == len(part)
            results += answer
        return results

    def predict(self, endpoint: Any, rows: Any, **kwargs: Any) -> list[Any]:
        """The labels the endpoint gives these rows."""
        return self.results(endpoint, rows, "predict", **kwargs)

    def predict_proba(self, endpoint: Any, rows: Any, **kwargs: Any) -> np.ndarray[Any, Any]:
        """The class probabilities the endpoint gives these rows, one row each."""
        return np.asarray(self.results(endpoint, rows, "predict_proba", **kwargs), dtype=np.float64)

    def close(self) -> None:
        self._http.close()


@pytest.fixture
def reference() -> Iterator[Reference]:
    helper = Reference()
    yield helper
    helper.close()


# ------------------------------------------------------------------------------------------- the endpoint's swagger

_SWAGGER: dict[str, Any] = {}


@pytest.fixture
def bank_swagger(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The swagger.json of the endpoint the tests start (gen B, `Inputs`), fetched from a real one once per worker:
    a true contract for tests whose answers come from elsewhere (a mock transport, a fake server)."""
    if not _SWAGGER:
        endpoint = request.getfixturevalue("endpoint")
        response = httpx.get(endpoint.base_url + "/swagger.json")
        assert response.status_code == 200
        _SWAGGER.update(response.json())
    return json.loads(json.dumps(_SWAGGER))  # a copy each test may change
