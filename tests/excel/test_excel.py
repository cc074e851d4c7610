"""The Excel add-in without Excel: Excel-shaped ranges through the UDF functions and the scorer, against
the embedded endpoint over real HTTP; the template opened with openpyxl; the key kept out of workbooks."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keyring
import numpy as np
import pandas as pd
import pytest
from keyring.backend import KeyringBackend
from typer.testing import CliRunner

from bankscore import ScoringClient
from bankscore.bankmarketing.schema import COLUMN_NAMES
from bankscore.bankmarketing.synthetic import generate
from bankscore.cli import app
from bankscore.credentials import keyring_key
from bankscore.excel import (
    ExcelScorer,
    RangeError,
    RowCache,
    SettingsError,
    coerce,
    map_headers,
    settings_from_grid,
    udfs,
)
from bankscore.excel.core import MISS
from bankscore.excel.macros import is_blank, results_block
from bankscore.excel.settings import SCORERS, Scorers, Settings
from bankscore.excel.template import build_template
from bankscore.server.model import Model
from tests.support.common import PRIMARY


def excel_grid(frame: pd.DataFrame) -> list[list[Any]]:
    """What xlwings hands a UDF: a header row, numbers as floats, empty cells as None."""
    rows = [
        [None if pd.isna(v) else (float(v) if isinstance(v, int | np.integer) else v) for v in row]
        for row in frame.itertuples(index=False)
    ]
    return [list(frame.columns), *rows]


def rows(n: int, seed: int = 5) -> pd.DataFrame:
    return generate(n, seed=seed, label=False)


@pytest.fixture
def configured(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The add-in pointed at a test endpoint through the environment, as a user would set it up."""
    monkeypatch.setenv("BANKSCORE_ENDPOINT", endpoint.scoring_uri)
    monkeypatch.setenv("BANKSCORE_KEY", PRIMARY)
    yield endpoint
    SCORERS.close()


@pytest.fixture
def scorer(endpoint: Any) -> Any:
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        yield ExcelScorer(client)


# ------------------------------------------------------------------------------------------- headers & types


def test_headers_map_exactly_then_loosely(scorer: ExcelScorer) -> None:
    contract = scorer.client.contract
    headers = list(reversed(COLUMN_NAMES))
    headers[headers.index("emp.var.rate")] = "emp_var_rate"
    headers[headers.index("day_of_week")] = "Day Of Week"
    headers[headers.index("nr.employed")] = "NR-EMPLOYED"
    mapping = map_headers([*headers, "customer id"], contract)
    assert mapping.positions["emp.var.rate"] == headers.index("emp_var_rate")
    assert mapping.positions["day_of_week"] == headers.index("Day Of Week")
    assert mapping.positions["nr.employed"] == headers.index("NR-EMPLOYED")
    assert mapping.ignored == ("customer id",)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([*COLUMN_NAMES[:-1]], "missing column nr.employed"),
        ([*COLUMN_NAMES, "age"], "the header 'age' appears twice"),
        ([*COLUMN_NAMES, "Emp_Var_Rate"], "both mean 'emp.var.rate'"),
        (["customer", "balance"], "missing columns age, job"),
    ],
)
def test_header_problems_are_one_clear_sentence(scorer: ExcelScorer, headers: list[str], message: str) -> None:
    with pytest.raises(RangeError, match=message):
        map_headers(headers, scorer.client.contract)


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (45.0, "int64", 45),
        ("45", "int64", 45),
        (" 1200 ", "double", 1200.0),
        ("5.7e1", "int64", 57),
        ("9007199254740993", "int64", 9007199254740993),  # exact: text never passes through a float
        (1.5, "double", 1.5),
        (3.0, "string", "3"),
        (" married ", "string", "married"),
        (dt.date(2024, 5, 1), "string", "2024-05-01"),
    ],
)
def test_excel_values_are_coerced(value: Any, kind: str, expected: Any) -> None:
    assert coerce(value, kind, "col") == expected
    assert type(coerce(value, kind, "col")) is type(expected)


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (None, "int64", "age is empty"),
        ("", "string", "age is empty"),
        (45.5, "int64", "45.5 is not a whole number"),
        ("old", "int64", "'old' is not a whole number"),
        ("57.5", "int64", "'57.5' is not a whole number"),
        # A separator's meaning depends on the locale (1,5 is 1.5 in Germany, 15 nowhere): refused, never guessed.
        ("1,5", "double", r"'1,5' is not a number \(type it without thousands separators, with a decimal point\)"),
        (" 1,200 ", "double", "without thousands separators"),
        ("NaN", "double", "'NaN' is not a number"),
        (True, "double", "True is not a number"),
        (dt.datetime(2024, 5, 1), "double", "a date is not a number"),
        (float("inf"), "double", "is not a number"),
    ],
)
def test_bad_cells_give_short_reasons(value: Any, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        coerce(value, kind, "age")


# ------------------------------------------------------------------------------------------- UDFs over HTTP


def test_predict_udf_spills_a_header_and_one_label_per_row(configured: Any, model: Model) -> None:
    frame = rows(30)
    result = udfs.bankscore_predict(excel_grid(frame))
    assert result[0] == ["prediction"]
    assert [r[0] for r in result[1:]] == model.predict(frame).tolist()


def test_proba_udf_gives_the_positive_class_probability(configured: Any, model: Model) -> None:
    frame = rows(12)
    result = udfs.bankscore_proba(excel_grid(frame))
    assert result[0] == ["proba_yes"]
    np.testing.assert_allclose([r[0] for r in result[1:]], model.predict_proba(frame)[:, 1])


def test_reordered_renamed_headers_and_an_extra_column(configured: Any, model: Model) -> None:
    frame = rows(20)
    shuffled = frame[list(reversed(COLUMN_NAMES))].rename(columns={"emp.var.rate": "emp_var_rate"})
    shuffled.insert(3, "Customer", [f"C{i}" for i in range(len(frame))])
    result = udfs.bankscore_predict(excel_grid(shuffled))
    assert [r[0] for r in result[1:]] == model.predict(frame).tolist()


def test_a_bad_row_among_good_ones_gets_a_short_text_and_the_rest_are_scored(configured: Any, model: Model) -> None:
    frame = rows(10)
    grid = excel_grid(frame)
    col = COLUMN_NAMES.index
    grid[3][col("age")] = None  # row 3 of the sheet's data: empty cell
    grid[5][col("duration")] = "long"
    grid[7][col("campaign")] = 2.5
    result = [r[0] for r in udfs.bankscore_predict(grid)[1:]]
    assert result[2] == "error: age is empty"
    assert result[4] == "error: duration: 'long' is not a whole number"
    assert result[6] == "error: campaign: 2.5 is not a whole number"
    good = [i for i in range(10) if i not in (2, 4, 6)]
    assert [result[i] for i in good] == model.predict(frame.iloc[good]).tolist()


def test_single_row_and_blank_rows_below_the_table(configured: Any, model: Model) -> None:
    frame = rows(1)
    grid = [*excel_grid(frame), [None] * 20, [""] * 20]
    result = udfs.bankscore_predict(grid)
    assert result == [["prediction"], [model.predict(frame)[0]], [""], [""]]


def test_ten_thousand_rows_in_one_call(configured: Any, model: Model) -> None:
    frame = rows(10_000, seed=9)
    result = udfs.bankscore_predict(excel_grid(frame))
    assert len(result) == 10_001
    assert [r[0] for r in result[1:]] == model.predict(frame).tolist()


def test_unchanged_rows_come_from_the_cache_even_when_the_endpoint_is_gone(start_endpoint: Any, model: Model) -> None:
    endpoint = start_endpoint()
    frame = rows(50)
    with ScoringClient(endpoint.scoring_uri, key=PRIMARY) as client:
        scorer = ExcelScorer(client)
        first = scorer.score(excel_grid(frame))
        assert (first.scored, first.cached) == (50, 0)
        endpoint.stop()
        again = scorer.score(excel_grid(frame))
        assert (again.scored, again.cached, again.failed) == (0, 50, 0)
        assert again.values == first.values == model.predict(frame).tolist()
        grown = excel_grid(pd.concat([frame, rows(1, seed=99)]))  # one new row: only it needs the endpoint
        third = scorer.score(grown)
        assert third.cached == 50 and third.failed == 1
        assert str(third.values[50]).startswith("error: ")


def test_duplicate_rows_are_sent_once(scorer: ExcelScorer) -> None:
    frame = pd.concat([rows(5)] * 4, ignore_index=True)
    result = scorer.score(excel_grid(frame))
    assert result.scored == 20 and len(scorer.cache) == 5


def test_the_cache_is_per_endpoint_and_expires() -> None:
    now = [0.0]
    cache = RowCache(max_rows=3, max_age=60, clock=lambda: now[0])
    cache.put_many("endpoint-1", {("a", 1): "yes", ("b", 1): "no"})
    assert cache.get_many("endpoint-1", [("a", 1), ("c", 1)]) == ["yes", MISS]
    assert cache.get_many("endpoint-2", [("a", 1)]) == [MISS], "another endpoint never shares answers"
    now[0] = 61
    assert cache.get_many("endpoint-1", [("a", 1)]) == [MISS], "expired"
    cache.put_many("endpoint-2", {("k", i): i for i in range(5)})
    assert len(cache) == 3
    assert cache.get_many("endpoint-2", [("k", 0), ("k", 4)]) == [MISS, 4], "the oldest went first"


def test_failed_batches_are_error_text_and_not_cached(start_endpoint: Any) -> None:
    broken = start_endpoint(fault_rate=1.0, faults=("model-error",))
    with ScoringClient(broken.scoring_uri, key=PRIMARY, max_retries=0) as client:
        scorer = ExcelScorer(client)
        result = scorer.score(excel_grid(rows(4)))
    assert result.failed == 4 and len(scorer.cache) == 0
    assert all(v.startswith("error: ") and "Traceback" not in v and "\n" not in v for v in result.values)


def test_an_unreachable_endpoint_is_one_readable_line_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.common import free_port

    monkeypatch.setenv("BANKSCORE_ENDPOINT", f"http://127.0.0.1:{free_port()}/score")
    try:
        result = udfs.bankscore_predict(excel_grid(rows(3)))
    finally:
        SCORERS.close()
    assert result[0] == ["prediction"] and len(result) == 4
    assert all(r[0].startswith("error: ") and "swagger" in r[0] for r in result[1:])


def test_nothing_configured_uses_the_embedded_endpoint(monkeypatch: pytest.MonkeyPatch, model: Model) -> None:
    monkeypatch.delenv("BANKSCORE_ENDPOINT", raising=False)
    scorers = Scorers()
    try:
        scorer = scorers.get(settings_from_grid(None))
        assert scorer.client.endpoint.startswith("http://127.0.0.1:")
        frame = rows(6)
        assert scorer.score(excel_grid(frame)).values == model.predict(frame).tolist()
    finally:
        scorers.close()


# ------------------------------------------------------------------------------------------- settings & keys


def test_settings_sheet_is_read_and_a_key_in_it_is_refused() -> None:
    grid = [
        ["Setting", "Value"],
        ["Endpoint", "https://x.example/score"],
        ["Timeout seconds", 12.0],
        ["Cache minutes", 0.5],
    ]
    settings = settings_from_grid(grid, env={})
    assert settings == Settings("https://x.example/score", None, 12.0, 0.5)
    with pytest.raises(SettingsError, match="BANKSCORE_KEY") as caught:
        settings_from_grid([*grid, ["API key", "s3cret-value"]], env={})
    assert "s3cret-value" not in str(caught.value)
    with pytest.raises(SettingsError, match="between 0 and 60"):
        settings_from_grid([["Timeout seconds", 200]], env={})


class SettingsSheet:
    """The slice of xlwings' Sheet/Range API that `settings_grid` reads."""

    def __init__(self, value: list[list[Any]]) -> None:
        self.value = value

    def range(self, _: str) -> SettingsSheet:
        return self

    def expand(self, _: str) -> SettingsSheet:
        return self

    def options(self, **_: Any) -> SettingsSheet:
        return self


def test_a_key_in_the_settings_sheet_shows_as_an_error_not_a_score(configured: Any) -> None:
    sheet = SettingsSheet([["Key", "do-not-keep-me-here"]])
    caller = SimpleNamespace(sheet=SimpleNamespace(book=SimpleNamespace(sheets={"Settings": sheet})))
    result = udfs.bankscore_predict(excel_grid(rows(2)), caller=caller)
    assert all("BANKSCORE_KEY" in r[0] and "do-not-keep-me-here" not in r[0] for r in result[1:])


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


def test_key_from_the_os_keyring_via_set_key(endpoint: Any, monkeypatch: pytest.MonkeyPatch, model: Model) -> None:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    scorers = Scorers()
    try:
        result = CliRunner().invoke(app, ["excel", "set-key", "--endpoint", endpoint.scoring_uri], input=f"{PRIMARY}\n")
        assert result.exit_code == 0, result.output
        assert PRIMARY not in result.output
        assert keyring_key(endpoint.scoring_uri) == PRIMARY
        monkeypatch.delenv("BANKSCORE_KEY", raising=False)
        scorer = scorers.get(Settings(endpoint=endpoint.scoring_uri), env={})
        frame = rows(3)
        assert scorer.score(excel_grid(frame)).values == model.predict(frame).tolist()
        assert PRIMARY not in repr(scorer.client)
    finally:
        scorers.close()
        keyring.set_keyring(previous)


# ------------------------------------------------------------------------------------------- macro & template


def test_score_selection_block_and_sample_data(scorer: ExcelScorer, model: Model) -> None:
    sample = udfs.sample_grid(4)
    assert sample[0] == list(COLUMN_NAMES) and len(sample) == 5
    block = results_block(sample, scorer)
    frame = pd.DataFrame(sample[1:], columns=sample[0])
    # The embedded endpoint explains, so three reasons come beside the label and the probability.
    assert block[0] == ["prediction", "proba_yes", "reason_1", "reason_2", "reason_3"]
    assert [r[0] for r in block[1:]] == model.predict(frame).tolist()
    np.testing.assert_allclose([r[1] for r in block[1:]], model.predict_proba(frame)[:, 1])
    assert [r[2:] for r in block[1:]] == scorer.client.explain(frame, top=3)[
        ["reason_1", "reason_2", "reason_3"]
    ].values.tolist()
    assert is_blank([[None, ""], [None, None]]) and not is_blank(sample)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    os.environ["BANKSCORE_KEY"] = "template-build-key-must-not-leak"
    try:
        return build_template(tmp_path_factory.mktemp("excel") / "bankscore.xlsm")
    finally:
        del os.environ["BANKSCORE_KEY"]


def test_template_sheets_formulas_conf_and_vba(template: Path) -> None:
    from openpyxl import load_workbook
    from openpyxl.worksheet.formula import ArrayFormula

    book = load_workbook(template, keep_vba=True)
    assert book.sheetnames == ["Customers", "Settings", "xlwings.conf"]
    data = book["Customers"]
    assert [c.value for c in data[1]][:20] == list(COLUMN_NAMES)
    predict, proba = data["U1"].value, data["V1"].value
    assert isinstance(predict, ArrayFormula) and predict.text == "=BANKSCORE_PREDICT(A1:T6)" and predict.ref == "U1:U6"
    assert isinstance(proba, ArrayFormula) and proba.text == "=BANKSCORE_PROBA(A1:T6)"
    assert data.max_row == 6
    conf = {row[0].value: row[1].value for row in book["xlwings.conf"].iter_rows(max_col=2)}
    assert conf["UDF Modules"] == "bankscore.excel.udfs"
    settings = [row[0].value for row in book["Settings"].iter_rows(max_col=1)]
    assert {"Endpoint", "Key file", "Timeout seconds", "Cache minutes"} <= set(settings)
    with zipfile.ZipFile(template) as archive:
        assert "xl/vbaProject.bin" in archive.namelist()
        assert archive.getinfo("xl/vbaProject.bin").file_size > 10_000


def test_template_keeps_no_key(template: Path) -> None:
    secret = b"template-build-key-must-not-leak"
    assert secret not in template.read_bytes()
    with zipfile.ZipFile(template) as archive:
        assert all(secret not in archive.read(name) for name in archive.namelist())


def test_committed_template_is_current(template: Path) -> None:
    from openpyxl import load_workbook

    committed = Path(__file__).resolve().parents[2] / "excel" / "bankscore.xlsm"
    fresh, kept = load_workbook(template, keep_vba=True), load_workbook(committed, keep_vba=True)
    assert fresh.sheetnames == kept.sheetnames
    for name in fresh.sheetnames:
        assert _cells(fresh[name]) == _cells(kept[name]), f"{name} differs: run `uv run python excel/build_template.py`"


def _cells(sheet: Any) -> list[list[Any]]:
    from openpyxl.worksheet.formula import ArrayFormula

    def show(value: Any) -> Any:
        return (value.ref, value.text) if isinstance(value, ArrayFormula) else value

    return [[show(c.value) for c in row] for row in sheet.iter_rows()]


def test_libreoffice_opens_the_template(template: Path, tmp_path: Path) -> None:
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc to run this check)")
    result = subprocess.run(
        [office, "--headless", "--convert-to", "csv", "--outdir", str(tmp_path), str(template)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    converted = tmp_path / "bankscore.csv"
    assert result.returncode == 0 and converted.is_file(), result.stderr
    assert converted.read_text().splitlines()[0].startswith("age,job,marital")
