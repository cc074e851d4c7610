"""The MLflow `input_data` contract of v2 managed endpoints, against a small real server on loopback.

No public server in our reach speaks it, so this one does, as v2 MLflow deployments document it:
split-orient `{"input_data": {"columns", "index", "data"}}` in, a bare JSON array out.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import pytest
import uvicorn

from bankscore.bankmarketing.schema import COLUMN_NAMES, SAMPLE_ROWS
from bankscore.bankmarketing.synthetic import generate
from bankscore.server.model import Model

if TYPE_CHECKING:
    from tests.support.twins import ClientFactory


def mlflow_swagger() -> dict[str, Any]:
    example = {"input_data": {"columns": list(COLUMN_NAMES), "index": [0], "data": [list(SAMPLE_ROWS[0].values())]}}
    return {
        "openapi": "3.0.1",
        "info": {"title": "bank-mlflow", "version": "1"},
        "paths": {
            "/score": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"input_data": {"type": "object"}},
                                    "example": example,
                                }
                            }
                        }
                    },
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {}}}}},
                }
            }
        },
    }


class MLflowLikeApp:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/swagger.json":
            payload, status = orjson.dumps(mlflow_swagger()), 200
        else:
            document = orjson.loads(body)
            self.bodies.append(document)
            split = document["input_data"]
            frame = pd.DataFrame(split["data"], columns=split["columns"], index=split["index"])
            payload, status = orjson.dumps(self.model.predict(frame).tolist()), 200
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": payload})


@pytest.fixture
def mlflow_server(model: Model) -> Iterator[tuple[str, MLflowLikeApp]]:
    app = MLflowLikeApp(model)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/score", app
    server.should_exit = True
    thread.join(5)
    sock.close()


def test_mlflow_contract_is_read_from_the_swagger_and_spoken(
    make_client: ClientFactory, mlflow_server: Any, model: Model
) -> None:
    url, app = mlflow_server
    frame = generate(250, seed=12, label=False)
    with make_client(url, batch_rows=100) as client:
        assert client.contract.envelope == "mlflow"
        assert client.contract.types["age"] == "int64" and client.contract.types["euribor3m"] == "double"
        assert client.predict(frame).tolist() == model.predict(frame).tolist()
    assert len(app.bodies) == 3
    # The batches travel concurrently, so they may arrive in any order; each is split-orient, indexed from 0.
    splits = sorted((body["input_data"] for body in app.bodies), key=lambda split: -len(split["index"]))
    assert [len(split["index"]) for split in splits] == [100, 100, 50]
    for split in splits:
        assert split["columns"] == list(COLUMN_NAMES) and split["index"] == list(range(len(split["index"])))
        assert len(split["data"]) == len(split["index"])
