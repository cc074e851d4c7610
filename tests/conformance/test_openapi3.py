"""Services whose swagger exists only as OpenAPI 3: Microsoft's server with an MLflow-style `input_data` script.

Its rows mix numbers and text, which Swagger 2.0 can't describe, so `GET /swagger.json` answers 404 naming the
versions it has and only `?version=3` / `?version=3.1` answer. Every front-end finds the contract there, with no
saved swagger, and a saved OpenAPI 3 document works as well as a saved Swagger 2.0 one.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import pytest

from bankscore import parse_swagger
from bankscore.bankmarketing.schema import COLUMN_NAMES, COLUMN_TYPES, SAMPLE_ROWS
from bankscore.bankmarketing.synthetic import generate
from bankscore.contract import load_swagger_file
from bankscore.server.model import Model
from tests.support.cli import run

if TYPE_CHECKING:
    from tests.support.twins import ClientFactory

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("peer")]

FIXTURES = Path(__file__).parents[1] / "support" / "azureml_peer" / "fixtures"


def test_the_peer_offers_no_swagger_2_for_this_script(gen_mlflow: Any) -> None:
    """The premise, pinned: if Microsoft's server ever answers version 2 here, this suite proves nothing new."""
    default = httpx.get(gen_mlflow.swagger_uri)
    assert default.status_code == 404
    assert "Supported swagger versions: [3, 3.1]" in default.json()["message"]
    assert httpx.get(gen_mlflow.swagger_uri, params={"version": "3"}).json()["openapi"].startswith("3.0")
    assert httpx.get(gen_mlflow.swagger_uri, params={"version": "3.1"}).json()["openapi"].startswith("3.1")


def test_both_clients_discover_openapi_3_and_score(make_client: ClientFactory, gen_mlflow: Any, model: Model) -> None:
    frame = generate(250, seed=12, label=False)
    with make_client(gen_mlflow.scoring_uri, batch_rows=100, concurrency=2) as client:
        contract = client.contract
        assert contract.envelope == "mlflow"
        assert contract.spec_version.startswith("3.0"), "3.0 is asked for first; 3.1 only when 3.0 is missing"
        assert contract.column_names == COLUMN_NAMES
        assert contract.types == dict(COLUMN_TYPES), "types come from the example, not the declared `number` items"
        assert client.predict(frame).tolist() == model.predict(frame).tolist()
    log = gen_mlflow.log_text()
    assert re.search(r'"GET /swagger.json HTTP/1.1" 404', log), "version 2 was asked first"
    assert re.search(r'"GET /swagger.json\?version=3 HTTP/1.1" 200', log), log[-2000:]


def test_a_saved_openapi_3_document_scores_with_no_swagger_route(
    make_client: ClientFactory, gen_mlflow: Any, model: Model
) -> None:
    saved = FIXTURES / "openapi3_mlflow.json"
    frame = generate(40, seed=2, label=False)
    with make_client(gen_mlflow.scoring_uri, swagger=saved) as client:
        assert client.contract.spec_version == "3.0.3"
        assert client.predict(frame).tolist() == model.predict(frame).tolist()


def test_every_saved_form_of_the_gen_b_contract_reads_the_same() -> None:
    two = parse_swagger(load_swagger_file(FIXTURES / "swagger_gen_b.json"))
    three_one = parse_swagger(load_swagger_file(FIXTURES / "openapi31_gen_b.json"))
    assert (two.spec_version, three_one.spec_version) == ("2.0", "3.1.0")
    assert three_one == two, "envelope, columns, types, required and methods agree across versions"
    assert three_one.example == two.example


def test_schema_and_codegen_commands_read_openapi_3(gen_mlflow: Any, tmp_path: Path) -> None:
    shown = run("schema", "--endpoint", gen_mlflow.scoring_uri)
    assert shown.returncode == 0, shown.stderr
    assert "input_data" in shown.stdout and "OpenAPI 3.0.3" in shown.stdout
    assert re.search(r"emp\.var\.rate\s*│\s*double", shown.stdout), shown.stdout

    module = tmp_path / "bank_mlflow.py"
    made = run("codegen", "-o", str(module), "--endpoint", gen_mlflow.scoring_uri)
    assert made.returncode == 0, made.stderr
    source = module.read_text()
    assert "emp_var_rate: float = Field(alias='emp.var.rate')" in source, source[:2000]
    spec = importlib.util.spec_from_file_location("bank_mlflow", module)
    assert spec is not None and spec.loader is not None
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)  # the generated module imports and defines its rows
    assert generated.Row.model_validate(dict(SAMPLE_ROWS[0])).emp_var_rate == SAMPLE_ROWS[0]["emp.var.rate"]


def test_a_load_test_builds_its_bodies_from_the_openapi_3_contract(gen_mlflow: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKSCORE_")}
    bankscore = str(Path(sys.executable).parent / "bankscore")
    result = subprocess.run(
        [bankscore, "loadtest", "--endpoint", gen_mlflow.scoring_uri, "-n", "30", "-u", "1", "--rows-per-request", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^Complete requests:\s+30$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^Non-2xx responses:\s+0$", result.stdout, re.MULTILINE), result.stdout


def test_the_excel_formula_scores_through_openapi_3(
    gen_mlflow: Any, model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bankscore.excel import udfs
    from bankscore.excel.settings import SCORERS

    monkeypatch.setenv("BANKSCORE_ENDPOINT", gen_mlflow.scoring_uri)
    frame = generate(12, seed=8, label=False)
    grid = [list(frame.columns), *[[v.item() if hasattr(v, "item") else v for v in r] for r in frame.to_numpy()]]
    try:
        result = udfs.bankscore_predict(grid)
    finally:
        SCORERS.close()
    assert result[0] == ["prediction"]
    assert [r[0] for r in result[1:]] == model.predict(pd.DataFrame(frame)).tolist()
