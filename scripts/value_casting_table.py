"""How Microsoft's server and the embedded endpoint answer one odd cell: a markdown table.

    uv run python scripts/value_casting_table.py [--model-dir DIR] [--embedded-only]

Each case changes one cell of the first of two sample rows and posts it, over real HTTP, to
Microsoft's azureml-inference-server-http with the gen-B and the gen-A AutoML script (the peer
venv, built once at .venv-azureml) and to the embedded endpoint with both envelopes. A cell of
the table is the status and what came back: the predictions matched against what the model gives
for each reading of the value ("as 57" = the same as sending the number 57), or the error text.
The last column is bankscore's own client given the same rows (a list of dicts) against the
embedded endpoint: what it sends for the cell and how that scores, or what it refuses before sending.
The tests in tests/conformance/test_client_habits.py pin what this prints.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np
import orjson

from bankscore import APIError, InputValidationError, ScoringClient
from bankscore.bankmarketing.schema import SAMPLE_ROWS
from bankscore.server.model import Model, load_model
from bankscore.server.runner import EmbeddedEndpoint, EndpointConfig, default_model_dir

EVERY = "(every cell)"  # the studio's Consume sample: every value of both rows as a JSON string
# (column, value sent, readings the model might have been given) — a reading of None is "missing" (NaN).
CASES: list[tuple[str, Any, list[Any]]] = [
    ("age", "57", [57]),
    ("age", " 57 ", [57]),
    ("age", "57.0", [57]),
    ("age", "5.7e1", [57]),
    ("age", "1e3", [1000]),
    ("age", "1_000", [1000]),
    ("age", "+57", [57]),
    ("age", "\u0665\u0667", [57]),
    ("age", "99999999999999999999", [None]),
    ("age", "", [None]),
    ("age", "abc", [None]),
    ("age", "true", [1]),
    ("age", "NaN", [None]),
    ("age", 57.0, [57]),
    ("age", 57.5, [57, 57.5]),
    ("age", True, [1]),
    ("age", None, [None]),
    ("emp.var.rate", "-1.8", [-1.8]),
    ("emp.var.rate", " -1.8 ", [-1.8]),
    ("emp.var.rate", "1e3", [1000.0]),
    ("emp.var.rate", "1_000", [1000.0]),
    ("emp.var.rate", "", [None]),
    ("emp.var.rate", "abc", [None]),
    ("emp.var.rate", "NaN", [None]),
    ("emp.var.rate", "inf", [math.inf]),
    ("emp.var.rate", "-1,8", [None]),
    ("emp.var.rate", True, [1.0]),
    ("emp.var.rate", None, [None]),
    ("job", 5, ["5", None]),
    ("job", 5.0, ["5.0", None]),
    ("job", True, ["True", None]),
    ("job", None, [None]),
    ("job", "", [""]),
    (EVERY, "strings", [None]),
]


def _show(value: Any) -> str:
    return json.dumps(value)


def _readings(model: Model, column: str, readings: list[Any]) -> list[tuple[str, list[float]]]:
    """P(yes) of both rows for each reading of the cell, computed by the model directly."""
    schema = model.schema
    if column == EVERY:
        columns = {c: [r[c] for r in SAMPLE_ROWS] for c in schema.columns}
        return [("as numbers", model.proba_from_matrix(schema.encode_columns(columns, 2))[:, 1].tolist())]
    out = []
    for reading in readings:
        columns: dict[str, list[Any]] = {c: [r[c] for r in SAMPLE_ROWS] for c in schema.columns}
        matrix = schema.encode_columns(columns, len(SAMPLE_ROWS))
        j = schema.columns.index(column)
        if reading is None:
            matrix[0, j] = math.nan
        elif schema.types[column] == "string":
            matrix[0, j] = schema.encode_columns({**columns, column: [reading, columns[column][1]]}, 2)[0, j]
        else:
            matrix[0, j] = float(reading)
        label = "missing" if reading is None else f"as {_show(reading)}"
        out.append((label, model.proba_from_matrix(matrix)[:, 1].tolist()))
    return out


def _rows(column: str, value: Any) -> list[dict[str, Any]]:
    if column == EVERY:
        return [{k: str(v) for k, v in r.items()} for r in SAMPLE_ROWS]
    rows = [dict(r) for r in SAMPLE_ROWS]
    rows[0][column] = value
    return rows


def _client_cell(client: ScoringClient, column: str, value: Any, readings: list[tuple[str, list[float]]]) -> str:
    rows = _rows(column, value)
    try:
        sent_rows = orjson.loads(client.prepare(rows, "predict_proba").body)["Inputs"]["data"]
        proba = client.predict_proba(rows)["yes"].tolist()
    except InputValidationError as exc:
        return f"refused: {exc.problems[0].expected}"
    except APIError as exc:
        return f"{exc.status_code} {exc.message[:80]}"
    sent = "every value as its number" if column == EVERY else f"sends {_show(sent_rows[0][column])}"
    for label, expected in readings:
        if np.allclose(proba, expected, rtol=1e-12, atol=0):
            return f"{sent}: 200 {label}"
    return f"{sent}: 200 other"


def _answer(response: httpx.Response, gen_a: bool, readings: list[tuple[str, list[float]]], model: Model) -> str:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        return f"{status} {response.text[:60]!r}"
    if gen_a and isinstance(body, str):
        body = json.loads(body)
    if status != 200 or (isinstance(body, dict) and ("error" in body or "message" in body)):
        text = body.get("message") or body.get("error") if isinstance(body, dict) else body
        return f"{status} {str(text)[:90]}"
    results = body["result"] if gen_a else body["Results"]
    no, yes = model.classes
    for label, proba in readings:
        if gen_a or isinstance(results[0], str):
            if results == [yes if p >= 0.5 else no for p in proba]:
                return f"{status} {label}" + (" (labels)" if gen_a else "")
        elif np.allclose([r[1] for r in results], proba, rtol=1e-12, atol=0):
            return f"{status} {label}"
    return f"{status} other: {results}"


@contextlib.contextmanager
def _servers(model_dir: Path, model: Model, embedded_only: bool) -> Iterator[dict[str, tuple[str, str]]]:
    """name → (scoring uri, envelope)."""
    with contextlib.ExitStack() as stack:
        out: dict[str, tuple[str, str]] = {}
        if not embedded_only:
            from tests.support.azureml_peer.peer import AzureMLPeer

            out["peer gen B"] = (stack.enter_context(AzureMLPeer(model_dir, "B")).scoring_uri, "inputs")
            out["peer gen A"] = (stack.enter_context(AzureMLPeer(model_dir, "A")).scoring_uri, "data")
        for envelope in ("inputs", "data"):
            config = EndpointConfig(model_dir=model_dir, port=0, access_log=False, envelope=envelope)  # type: ignore[arg-type]
            endpoint = stack.enter_context(EmbeddedEndpoint(config, model))
            out[f"embedded {envelope}"] = (endpoint.scoring_uri, envelope)
        yield out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--embedded-only", action="store_true")
    args = parser.parse_args(argv)
    model_dir = args.model_dir or default_model_dir()
    model = load_model(model_dir)
    with (
        _servers(model_dir, model, args.embedded_only) as servers,
        httpx.Client(timeout=60) as http,
        ScoringClient(servers["embedded inputs"][0]) as client,
    ):
        print("| column | value | " + " | ".join(servers) + " | bankscore client |")
        print("|---|---|" + "---|" * (len(servers) + 1))
        for column, value, readings in CASES:
            expected = _readings(model, column, readings)
            cells = []
            for uri, envelope in servers.values():
                rows = _rows(column, value)
                if envelope == "inputs":
                    body: dict[str, Any] = {"Inputs": {"data": rows}, "GlobalParameters": {"method": "predict_proba"}}
                else:
                    body = {"data": rows}
                response = http.post(uri, content=json.dumps(body), headers={"Content-Type": "application/json"})
                cells.append(_answer(response, envelope == "data", expected, model).replace("|", "\\|"))
            cells.append(_client_cell(client, column, value, expected).replace("|", "\\|"))
            shown = "every value a string" if column == EVERY else f"`{_show(value)}`"
            print(f"| {column} | {shown} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
