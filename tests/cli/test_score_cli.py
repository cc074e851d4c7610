"""`bankscore score`, `schema`, `health`, `codegen` as users run them: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from bankscore.files import read_table, write_table
from bankscore.server.model import Model
from tests.support.cli import customers, run
from tests.support.common import PRIMARY, ROOT, SECONDARY
from tests.support.serving import BANKSCORE


@pytest.fixture
def remote(endpoint: Any) -> dict[str, str]:
    """Environment pointing the CLI at a running endpoint with the key in the environment."""
    return {"BANKSCORE_ENDPOINT": endpoint.scoring_uri, "BANKSCORE_KEY": PRIMARY}


def test_readme_main_command_scores_the_example_file_against_the_embedded_endpoint(model: Model) -> None:
    result = run("score", str(ROOT / "examples/customers.csv"))
    assert result.returncode == 0, result.stderr
    assert "embedded local endpoint" in result.stderr
    assert len([line for line in result.stderr.splitlines() if "embedded" in line]) == 1
    scored = pd.read_csv(__import__("io").StringIO(result.stdout))
    source = pd.read_csv(ROOT / "examples/customers.csv")
    assert list(scored.columns) == [*source.columns, "prediction"]
    assert scored["customer_id"].tolist() == source["customer_id"].tolist()
    expected = model.predict(source.drop(columns="customer_id")).tolist()
    assert scored["prediction"].tolist() == expected, "the cached default model answers"


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx", ".jsonl"])
def test_every_format_in_and_out(tmp_path: Path, remote: dict[str, str], model: Model, suffix: str) -> None:
    source = customers(120)
    path = tmp_path / f"in{suffix}"
    write_table(source, path)
    target = tmp_path / f"out{suffix}"
    result = run("score", str(path), "-o", str(target), "--proba", "--batch-rows", "25", env=remote)
    assert result.returncode == 0, result.stderr
    scored = read_table(target)
    assert list(scored.columns) == [*source.columns, "prediction", "proba_no", "proba_yes"]
    features = source.drop(columns="customer_id")
    np.testing.assert_allclose(scored[["proba_no", "proba_yes"]].to_numpy(), model.predict_proba(features))
    assert scored["prediction"].tolist() == model.predict(features).tolist()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temporary files left"


def test_validation_error_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, remote: dict[str, str]) -> None:
    source = customers(30).astype({"age": object})
    source.loc[4, "age"] = "old"
    path = tmp_path / "in.csv"
    source.to_csv(path, index=False)
    target = tmp_path / "out.csv"
    result = run("score", str(path), "-o", str(target), env=remote)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert "row 4, column 'age': 'old'" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert not target.exists()


def test_on_error_column_keeps_going(tmp_path: Path, remote: dict[str, str], model: Model) -> None:
    source = customers(40).astype({"duration": object})
    source.loc[[3, 17], "duration"] = "long"
    path = tmp_path / "in.csv"
    source.to_csv(path, index=False)
    target = tmp_path / "out.csv"
    result = run("score", str(path), "-o", str(target), "--on-error", "column", env=remote)
    assert result.returncode == 1, "some rows failed"
    scored = pd.read_csv(target)
    bad = scored["error"].notna()
    assert scored.index[bad].tolist() == [3, 17]
    assert scored.loc[3, "error"].startswith("invalid input: row 3, column 'duration'")
    assert scored["prediction"][bad].isna().all()
    good = source.drop(index=[3, 17]).drop(columns="customer_id").astype({"duration": int})
    assert scored["prediction"][~bad].tolist() == model.predict(good).tolist()


def test_scoring_failure_exits_1_and_writes_nothing(tmp_path: Path, start_endpoint: Any) -> None:
    broken = start_endpoint(fault_rate=1.0, faults=("model-error",))
    path = tmp_path / "in.csv"
    customers(10).to_csv(path, index=False)
    target = tmp_path / "out.parquet"
    env = {"BANKSCORE_ENDPOINT": broken.scoring_uri, "BANKSCORE_KEY": PRIMARY}
    result = run("score", str(path), "-o", str(target), env=env)
    assert result.returncode == 1
    assert "model failed" in result.stderr and "Traceback" not in result.stderr
    assert not target.exists()
    assert PRIMARY not in result.stderr + result.stdout


def test_on_error_column_fills_failed_batches(tmp_path: Path, start_endpoint: Any) -> None:
    broken = start_endpoint(fault_rate=1.0, faults=("model-error",))
    path = tmp_path / "in.csv"
    customers(10).to_csv(path, index=False)
    target = tmp_path / "out.csv"
    env = {"BANKSCORE_ENDPOINT": broken.scoring_uri, "BANKSCORE_KEY": PRIMARY}
    result = run("score", str(path), "-o", str(target), "--on-error", "column", "--batch-rows", "4", env=env)
    assert result.returncode == 1
    scored = pd.read_csv(target)
    assert scored["error"].str.startswith("scoring failed").all()


def test_key_file_and_secondary_key(tmp_path: Path, endpoint: Any) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"stale-primary\n{SECONDARY}\n")
    path = tmp_path / "in.jsonl"
    write_table(customers(5), path)
    result = run("score", str(path), "--endpoint", endpoint.scoring_uri, "--key-file", str(keys))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 6


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["score", "missing.csv"], "no such file"),
        (["score", "data.txt"], "unknown file type"),
        (["score", "examples/customers.csv", "-o", "out.doc"], "unknown file type"),
        (["score", "examples/customers.csv", "--endpoint", "ftp://x/score"], "not an http"),
        (["score", "examples/customers.csv", "--key-file", "/nonexistent"], "can't read key file"),
    ],
)
def test_usage_errors_exit_2(args: list[str], fragment: str) -> None:
    result = subprocess.run([BANKSCORE, *args], capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_non_utf8_and_empty_files(tmp_path: Path, remote: dict[str, str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"age,job\n" + "30,ingénieur\n".encode("latin-1"))
    result = run("score", str(bad), env=remote)
    assert result.returncode == 2 and "not UTF-8" in result.stderr
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run("score", str(empty), env=remote)
    assert result.returncode == 2 and "empty" in result.stderr


def test_unreachable_endpoint_exits_1() -> None:
    from tests.support.common import free_port

    result = run("score", str(ROOT / "examples/customers.csv"), "--endpoint", f"http://127.0.0.1:{free_port()}/score")
    assert result.returncode in (1, 2)
    assert "can't fetch the swagger" in result.stderr


@pytest.mark.xdist_group("mypy")  # with the other mypy runs: one warm cache, never written by two at once
def test_schema_health_and_codegen(tmp_path: Path, remote: dict[str, str], endpoint: Any) -> None:
    result = run("schema", env=remote)
    assert result.returncode == 0, result.stderr
    for fragment in ("emp.var.rate", "int64", "double", "gen B", "Declared output"):
        assert fragment in result.stdout
    assert run("health", env=remote).returncode == 0
    from tests.support.common import free_port

    dead = run("health", "--endpoint", f"http://127.0.0.1:{free_port()}/score")
    assert dead.returncode == 1

    swagger = tmp_path / "swagger.json"
    swagger.write_text(json.dumps(httpx.get(endpoint.base_url + "/swagger.json").json()))
    module = tmp_path / "bank_client.py"
    result = run("codegen", "--swagger", str(swagger), "-o", str(module), "--endpoint", endpoint.scoring_uri)
    assert result.returncode == 0, result.stderr
    mypy_cli = [str(Path(sys.executable).parent / "mypy"), "--config-file", str(ROOT / "pyproject.toml")]
    mypy_cli += ["--cache-dir", str(ROOT / ".mypy_cache"), "--strict"]
    mypy = subprocess.run(
        [*mypy_cli, str(module)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert mypy.returncode == 0, mypy.stdout
    user_code = tmp_path / "use_it.py"
    user_code.write_text(
        "from bank_client import Client, Row\n"
        "row = Row(age='old')\n"  # a type error the generated module lets mypy catch
    )
    caught = subprocess.run(
        [*mypy_cli, str(user_code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(tmp_path)},
    )
    assert caught.returncode == 1 and "age" in caught.stdout
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from bank_client import Client, Row, COLUMNS\n"
        "from bankscore.bankmarketing.schema import SAMPLE_ROWS\n"
        "with Client(key=sys.argv[2]) as c:\n"
        "    row = Row.model_validate(SAMPLE_ROWS[0])\n"
        "    print(c.predict_one(row), list(c.predict_proba([row]).columns), len(COLUMNS))\n"
    )
    used = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), PRIMARY], capture_output=True, text=True, timeout=120
    )
    assert used.returncode == 0, used.stderr
    label, *rest = used.stdout.split(" ", 1)
    assert label in ("yes", "no") and "['no', 'yes'] 20" in rest[0]


def test_the_progress_line_shows_retries_throttling_and_the_in_flight_limit(endpoint: Any) -> None:
    """What the bar prints beside rows/s, from a real client's stats after real requests through faults."""
    from bankscore import ScoringClient
    from bankscore.bankmarketing.synthetic import generate
    from bankscore.cli.score import health_line
    from bankscore.retry import RetryPolicy
    from tests.support.faultproxy import FaultProxy

    policy = RetryPolicy(max_retries=None, backoff_base=0.01, backoff_max=0.02, deadline=60)
    base = endpoint.scoring_uri.rsplit("/score", 1)[0]
    with (
        FaultProxy(base, schedule={0: "429", 1: "503", 2: "502-html"}) as proxy,
        ScoringClient(proxy.scoring_uri, key=PRIMARY, batch_rows=50, concurrency=4, retry_policy=policy) as client,
    ):
        assert health_line(client.stats) == "0 retries · 4/4 in flight"
        client.predict(generate(200, seed=3, label=False))
        line = health_line(client.stats)
    assert line.startswith("3 retries (1 × 429, 1 × 503)"), line
    assert line.endswith("/4 in flight") and int(line.split("· ")[1].split("/")[0]) < 4, "backed off after the 429"


@pytest.fixture(scope="module")
def lightgbm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache whose default model is a (small) LightGBM one, whatever model the session's tests use."""
    from bankscore.bankmarketing.synthetic import generate
    from bankscore.server.runner import SYNTHETIC_MODEL
    from bankscore.server.training import train

    cache = tmp_path_factory.mktemp("lightgbm-cache")
    result = train(generate(1_500, seed=4), folds=2, seed=4, candidates=["LightGBM"], source="synthetic(1500)")
    result.save(cache / "models" / SYNTHETIC_MODEL)
    return cache


_LEAN_PROBE = (
    "import sys\n"
    "from bankscore.cli.score import _import_lightgbm_lean\n"
    "_import_lightgbm_lean()\n"
    "print('lightgbm' in sys.modules, 'sklearn' in sys.modules)\n"
    "import sklearn.base\n"
    "print(sklearn.base.BaseEstimator.__name__)\n"
)


def test_the_embedded_lightgbm_model_loads_without_scikit_learn_and_scores_as_in_process(
    tmp_path: Path, lightgbm_cache: Path
) -> None:
    from bankscore.server.model import load_model
    from bankscore.server.runner import SYNTHETIC_MODEL

    env = {**os.environ, "BANKSCORE_CACHE_DIR": str(lightgbm_cache)}
    probe = subprocess.run([sys.executable, "-c", _LEAN_PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["True", "False", "BaseEstimator"], "lightgbm without sklearn; sklearn still loads"
    source = customers(3_000)
    source.to_csv(tmp_path / "in.csv", index=False)
    result = run("score", str(tmp_path / "in.csv"), "-o", str(tmp_path / "out.csv"), env=env)
    assert result.returncode == 0, result.stderr
    scored = pd.read_csv(tmp_path / "out.csv")
    model = load_model(lightgbm_cache / "models" / SYNTHETIC_MODEL)
    assert model.name == "LightGBM"
    assert scored["prediction"].tolist() == model.predict(source.drop(columns="customer_id")).tolist()


def test_a_linear_default_model_does_not_import_lightgbm(cache_dir: Path, model: Model) -> None:
    env = {**os.environ, "BANKSCORE_CACHE_DIR": str(cache_dir)}
    probe = subprocess.run([sys.executable, "-c", _LEAN_PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert probe.returncode == 0, probe.stderr
    expected = "True" if model.name == "LightGBM" else "False"
    assert probe.stdout.split()[0] == expected
