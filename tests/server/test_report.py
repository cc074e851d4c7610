"""The training report: its numbers are the run's own (checked against sklearn on the stored out-of-fold
predictions), it is one self-contained accessible page, it escapes what it shows, `save` writes it with the
model, the endpoint serves the served model's report at /report, and `bankscore report` finds or opens it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix, roc_auc_score
from typer.testing import CliRunner

from bankscore.bankmarketing.synthetic import generate
from bankscore.cli import app
from bankscore.server.model import DECISION_THRESHOLD, REPORT_FILE, load_model
from bankscore.server.report import render_report
from bankscore.server.runner import CACHE_ENV, SYNTHETIC_MODEL, SYNTHETIC_ROWS, EmbeddedEndpoint, EndpointConfig
from bankscore.server.training import TrainingResult
from tests.support.cli import run
from tests.support.common import PRIMARY, auth
from tests.support.report import SMALL_ROWS, SMALL_SEED, Element, attributes, parse, train_small, without_report

cli = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainingResult, Path]:
    result = train_small()
    return result, result.save(tmp_path_factory.mktemp("reported") / "model")


@pytest.fixture(scope="module")
def page(trained: tuple[TrainingResult, Path]) -> Element:
    return parse((trained[1] / REPORT_FILE).read_text(encoding="utf-8"))


def _cells(row: Element) -> list[Element]:
    return [e for e in row.elements if e.tag in ("td", "th")]


def _rows(root: Element, table_id: str) -> list[list[Element]]:
    body = root.by_id(table_id).find("tbody")[0]
    return [_cells(r) for r in body.find("tr")]


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def _svg_label(root: Element, chart_id: str) -> str:
    return root.by_id(chart_id).attrs["aria-label"]


# ------------------------------------------------------------------------------------------ numbers


def test_the_report_shows_the_runs_own_numbers(trained: tuple[TrainingResult, Path], page: Element) -> None:
    result, _ = trained
    oof = result.out_of_fold
    labels = (generate(SMALL_ROWS, seed=SMALL_SEED)["y"] == "yes").to_numpy().astype(int)
    np.testing.assert_array_equal(oof.labels, labels)
    assert oof.threshold == DECISION_THRESHOLD and len(oof.proba) == result.rows == SMALL_ROWS

    # The stored predictions are the ones cross-validation scored: each fold's slice gives its leaderboard numbers.
    for k, fold in enumerate(result.winner.folds):
        mine = oof.fold == k
        assert roc_auc_score(labels[mine], oof.proba[mine]) == pytest.approx(fold["AUC_weighted"], abs=1e-12)
        predicted = oof.proba[mine] >= DECISION_THRESHOLD
        assert accuracy_score(labels[mine], predicted) == pytest.approx(fold["accuracy"], abs=1e-12)
    assert sorted(set(oof.fold.tolist())) == [0, 1, 2]

    auc = roc_auc_score(labels, oof.proba)
    assert _svg_label(page, "roc-chart") == f"ROC curve, AUC {auc:.4f}"
    ap = average_precision_score(labels, oof.proba)
    assert _svg_label(page, "pr-chart") == f"Precision-recall curve, AUC (average precision) {ap:.4f}"

    tn, fp, fn, tp = confusion_matrix(labels, oof.proba >= DECISION_THRESHOLD).ravel()
    shown = {
        name: _count(page.by_id(f"cm-{name}").css("span", "count")[0].all_text()) for name in ("tn", "fp", "fn", "tp")
    }
    assert shown == {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    assert sum(shown.values()) == _count(page.by_id("cm-total").all_text()) == result.rows
    assert page.by_id("cm-tp").css("span", "rate")[0].all_text() == f"{tp / (tp + fn) * 100:.1f}%"

    leaderboard = _rows(page, "leaderboard-table")
    assert [r[1].all_text().replace("★", "").replace("Best model", "").strip() for r in leaderboard] == [
        c.name for c in result.leaderboard
    ]
    winners = [i for i, r in enumerate(page.by_id("leaderboard-table").find("tr")) if r.attrs.get("class") == "winner"]
    assert len(winners) == 1 and result.leaderboard[winners[0] - 1].name == result.model.name
    spread = {r[0].all_text(): r for r in _rows(page, "spread-table")}
    for row, candidate in zip(leaderboard, result.leaderboard, strict=True):
        values = [row[i].all_text() for i in (2, 3, 4)]
        assert values == [f"{candidate.accuracy:.4f}", f"{candidate.auc_weighted:.4f}", f"{candidate.f1_weighted:.4f}"]
        # Per-fold spread: mean ± sample sd of the folds, and the mean is the leaderboard's.
        for cell, metric, on_board in zip(
            spread[candidate.name][1:4], ("accuracy", "AUC_weighted", "f1_score_weighted"), values, strict=True
        ):
            folds = [f[metric] for f in candidate.folds]
            assert cell.attrs["data-metric"] == metric
            mean = cell.css("span", "mean")[0].all_text()
            assert mean == f"{statistics.mean(folds):.4f} ± {statistics.stdev(folds):.4f}"
            assert mean.split(" ± ")[0] == on_board
            assert cell.css("span", "range")[0].all_text() == f"{min(folds):.4f}–{max(folds):.4f}"

    counts, _ = np.histogram(oof.proba, bins=10, range=(0.0, 1.0))
    calibration = _rows(page, "calibration-table")
    assert [_count(r[1].all_text()) for r in calibration] == counts.tolist()
    which = np.digitize(oof.proba, np.linspace(0.0, 1.0, 11)[1:-1])
    observed = [labels[which == b] for b in range(10)]
    assert [r[3].all_text() for r in calibration] == [f"{o.mean():.3f}" if len(o) else "n/a" for o in observed]

    importance = _rows(page, "importance-table")
    assert [(r[1].all_text(), r[2].all_text()) for r in importance] == [
        (name, f"{share * 100:.2f}%") for name, share in result.importance.items()
    ]
    summary = page.by_id("summary").all_text()
    assert f"{SMALL_ROWS:,}" in summary and result.source in summary and result.model.version in summary


# --------------------------------------------------------------------------------------------- page


def test_the_report_is_one_self_contained_accessible_page(trained: tuple[TrainingResult, Path], page: Element) -> None:
    result, model_dir = trained
    text = (model_dir / REPORT_FILE).read_text(encoding="utf-8")
    assert len(text.encode()) < 150_000
    html = page.find("html")[0]
    assert html.attrs["lang"] == "en"
    assert result.model.name in page.find("title")[0].all_text()
    assert any(m.attrs.get("name") == "viewport" for m in page.find("meta"))
    # Nothing to fetch and nothing to run: no scripts, no external sheets or images, no URL in the CSS.
    assert not page.find("script") and not page.find("img") and not page.find("iframe")
    for tag, name, value in attributes(page):
        assert not name.startswith("on"), (tag, name)
        if name in ("src", "href", "srcset", "xlink:href", "action"):
            assert value.startswith("#") or value == "data:,", (tag, name, value)
    assert not re.search(r"https?://", text) and "url(" not in text and "@import" not in text
    ids = {e.attrs["id"] for e in page.walk() if "id" in e.attrs}
    assert len(ids) == sum(1 for e in page.walk() if "id" in e.attrs), "ids are unique"

    svgs = page.find("svg")
    assert len(svgs) == 7  # ROC, PR, calibration, importance, one spread chart per metric
    for svg in svgs:
        assert svg.attrs["role"] == "img" and svg.attrs["viewbox"].startswith("0 0 ")  # html.parser lowercases
        label = svg.attrs["aria-label"]
        assert label and svg.elements[0].tag == "title" and svg.elements[0].all_text() == label
        figure = svg.parent
        assert figure is not None and figure.tag == "figure" and figure.find("figcaption")[0].all_text().strip()

    # Keyboard: the contents are in-page links to sections that exist; per-fold rows are behind <details>.
    toc = page.find("nav")[0]
    assert toc.attrs["aria-label"] == "Contents"
    targets = [a.attrs["href"] for a in toc.find("a")]
    assert len(targets) == 7 and all(t[1:] in ids for t in targets)
    summaries = [d.find("summary")[0].all_text() for d in page.find("details")]
    assert all(any(s.startswith(c.name) for s in summaries) for c in result.leaderboard)
    for wrap in page.css("div", "table-wrap"):
        assert wrap.attrs["tabindex"] == "0" and wrap.attrs["aria-labelledby"] in ids
        assert wrap.elements[0].tag == "table"


def test_names_and_sources_are_escaped(trained: tuple[TrainingResult, Path]) -> None:
    result, _ = trained
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    winner = result.model.name
    hostile = dataclasses.replace(
        result,
        model=dataclasses.replace(result.model, name=f"Boost {evil}"),
        leaderboard=[
            dataclasses.replace(c, name=f"Boost {evil}" if c.name == winner else c.name) for c in result.leaderboard
        ],
        importance={f"col {evil}": 0.5, **{k: v / 2 for k, v in result.importance.items()}},
        source=f"/data/{evil}.csv",
    )
    text = render_report(hostile)
    page = parse(text)
    assert not page.find("script") and not page.find("img")
    assert not [name for _, name, _ in attributes(page) if name.startswith("on")]
    assert f"Boost {evil}" in page.find("title")[0].all_text()
    assert f"/data/{evil}.csv" in page.by_id("summary").all_text()
    assert f"col {evil}" in page.by_id("importance-table").all_text()
    assert f"Boost {evil}" in page.by_id("curves").all_text()
    assert "&lt;script&gt;" in text and "<script" not in text


def _digest(directory: Path) -> str:
    hashed = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        hashed.update(str(path.relative_to(directory)).encode() + (path.read_bytes() if path.is_file() else b""))
    return hashed.hexdigest()


def test_save_writes_the_report_with_the_model_whole_or_not_at_all(
    trained: tuple[TrainingResult, Path], tmp_path: Path
) -> None:
    result, _ = trained
    out = tmp_path / "m"
    written = result.save(out)
    assert written == out and result.model.directory == out
    assert {p.name for p in out.iterdir()} >= {"model.json", "schema.json", "metrics.json", REPORT_FILE}
    saved = load_model(out)
    report = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert f"version {saved.version}" in report and saved.directory == out
    metrics = json.loads((out / "metrics.json").read_text())
    assert all(f["fit_seconds"] > 0 for c in metrics["candidates"] for f in c["folds"])

    # A report that can't be rendered (predictions that don't match the rows) fails the save: the model
    # already there stays as it was, and nothing is left beside it.
    before = _digest(out)
    oof = result.out_of_fold
    broken = dataclasses.replace(result, out_of_fold=dataclasses.replace(oof, proba=oof.proba[:-5]))
    with pytest.raises(ValueError):
        broken.save(out)
    assert _digest(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


# ---------------------------------------------------------------------------------------- endpoint


@pytest.fixture
def report_endpoint(trained: tuple[TrainingResult, Path]) -> Iterator[EmbeddedEndpoint]:
    _, model_dir = trained
    config = EndpointConfig(model_dir=model_dir, port=0, primary_key=PRIMARY, access_log=False)
    with EmbeddedEndpoint(config, load_model(model_dir)) as endpoint:
        yield endpoint


def test_report_route_serves_the_served_models_report_and_follows_a_swap(
    report_endpoint: EmbeddedEndpoint, trained: tuple[TrainingResult, Path], tmp_path: Path
) -> None:
    _, model_dir = trained
    old_dir = without_report(model_dir, tmp_path / "old")
    base = report_endpoint.base_url
    with httpx.Client(base_url=base, timeout=30) as http:
        answer = http.get("/report")  # open under key auth, as the swagger and the health probe are
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert answer.content == (model_dir / REPORT_FILE).read_bytes()
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert http.post("/score", json={}).status_code == 401  # the scoring route still wants its key
        refused = http.post("/report", headers=auth())
        assert refused.status_code == 405 and refused.json()["message"] == "Use GET /report"
        assert "GET /report" in http.get("/reports").json()["message"]

        report_endpoint.app.use_model(load_model(old_dir))  # what a pipeline run's swap does
        missing = http.get("/report")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
        message = missing.json()["message"]
        assert "has no training report" in message and "`bankscore train`" in message
        assert str(old_dir) not in message  # the server's paths are not told to whoever asks

        report_endpoint.app.use_model(load_model(model_dir))
        assert http.get("/report").content == (model_dir / REPORT_FILE).read_bytes()
        in_memory = dataclasses.replace(load_model(model_dir), directory=None)
        report_endpoint.app.use_model(in_memory)
        assert "not loaded from a model directory" in http.get("/report").json()["message"]


# --------------------------------------------------------------------------------------------- CLI


def test_report_command_prints_the_path_or_says_to_retrain(
    trained: tuple[TrainingResult, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, model_dir = trained
    answer = cli.invoke(app, ["report", "--model", str(model_dir)])
    assert answer.exit_code == 0, answer.output
    assert answer.stdout.strip() == str((model_dir / REPORT_FILE).resolve())

    old_dir = without_report(model_dir, tmp_path / "old")
    answer = cli.invoke(app, ["report", "--model", str(old_dir)])
    assert answer.exit_code == 2
    lines = answer.output.strip().splitlines()
    assert len(lines) == 1 and str(old_dir) in lines[0] and f"bankscore train --out {old_dir}" in lines[0]

    answer = cli.invoke(app, ["report", "--model", str(tmp_path / "nowhere")])
    assert answer.exit_code == 2 and "not a bankscore model directory" in answer.output

    # No --model: the model `serve` would serve, the cached default one.
    cache = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache))
    default = cache / "models" / SYNTHETIC_MODEL
    without_report(model_dir, default)
    answer = cli.invoke(app, ["report"])
    assert answer.exit_code == 2 and f"bankscore train --rows {SYNTHETIC_ROWS} --out {default}" in answer.output
    (default / REPORT_FILE).write_bytes((model_dir / REPORT_FILE).read_bytes())
    answer = cli.invoke(app, ["report"])
    assert answer.exit_code == 0 and answer.stdout.strip() == str((default / REPORT_FILE).resolve())


def test_report_open_hands_the_file_to_the_browser(trained: tuple[TrainingResult, Path], tmp_path: Path) -> None:
    """A stand-in browser (a real program, chosen with BROWSER as for any user) records what it was asked to open."""
    _, model_dir = trained
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(
        f"#!{sys.executable}\nimport sys\nopen({str(seen)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
    )
    browser.chmod(0o755)
    answer = run("report", "--model", str(model_dir), "--open", env={"BROWSER": str(browser)})
    assert answer.returncode == 0, answer.stderr
    path = (model_dir / REPORT_FILE).resolve()
    assert answer.stdout.strip() == str(path)
    assert seen.read_text().splitlines() == [path.as_uri()]
