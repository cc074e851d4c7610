"""The training report: one self-contained HTML page per model, like the run page of AutoML's studio.

`render_report` turns a TrainingResult into the page `bankscore train` writes as report.html and the endpoint
serves at /report: the leaderboard, the winner's out-of-fold ROC and precision-recall curves, calibration, the
confusion matrix at the decision threshold, global feature importance and the per-fold spread of every metric.
Charts are inline SVG drawn here (no JavaScript, nothing fetched, no plotting library), styled by the page's own
CSS, so the file opens the same from disk, from the endpoint, or attached to a mail. Every text that comes from
the run (candidate names, the source path) is escaped.
"""

# ruff: noqa: E402 (the extra is checked before its libraries are imported: a missing one is one clear line)
from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .._extras import check

check("server", "The training report")  # before the imports it checks for

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, brier_score_loss, precision_recall_curve, roc_auc_score, roc_curve

from .._version import __version__
from .model import FloatMatrix

if TYPE_CHECKING:
    from .training import CandidateScore, TrainingResult

CALIBRATION_BINS: Final = 10
TOP_FEATURES: Final = 15
# Curves are thinned to points at least this far apart (in units of the axes' 0-1 range): a 33,000-row ROC
# curve keeps a few hundred points, and the page stays small, with no visible change.
_MIN_STEP: Final = 0.004

METRICS: Final = (
    ("accuracy", "Accuracy"),
    ("AUC_weighted", "AUC_weighted"),
    ("f1_score_weighted", "F1 (weighted)"),
)


def esc(text: object) -> str:
    """Text for HTML content or a quoted attribute, quotes included."""
    return html.escape(str(text), quote=True)


def _num(value: float, digits: int = 4) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def _pct(value: float, digits: int = 1) -> str:
    return "n/a" if not math.isfinite(value) else f"{value * 100:.{digits}f}%"


def _compact(count: int) -> str:
    """A count in at most five characters (24.5k), to fit above a calibration bar; the table has the exact one."""
    if count < 1000:
        return str(count)
    return f"{count / 1000:.1f}k" if count < 100_000 else f"{count / 1000:.0f}k"


def _share(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


# ------------------------------------------------------------------------------------------ numbers


@dataclass(frozen=True)
class Confusion:
    """Counts at the decision threshold, the positive class being the model's second class."""

    tn: int
    fp: int
    fn: int
    tp: int

    @property
    def total(self) -> int:
        return self.tn + self.fp + self.fn + self.tp

    @property
    def recall(self) -> float:
        return _share(self.tp, self.tp + self.fn)

    @property
    def fallout(self) -> float:
        return _share(self.fp, self.fp + self.tn)

    @property
    def precision(self) -> float:
        return _share(self.tp, self.tp + self.fp)

    @property
    def specificity(self) -> float:
        return _share(self.tn, self.tn + self.fp)

    @property
    def accuracy(self) -> float:
        return _share(self.tp + self.tn, self.total)

    @property
    def f1(self) -> float:
        return _share(2 * self.tp, 2 * self.tp + self.fp + self.fn)


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    rows: int
    mean_predicted: float
    observed: float


@dataclass(frozen=True)
class ReportNumbers:
    """What the page shows about the winner's out-of-fold predictions, computed once."""

    auc: float
    average_precision: float
    brier: float
    roc: tuple[FloatMatrix, FloatMatrix]  # false-positive rate, true-positive rate
    pr: tuple[FloatMatrix, FloatMatrix]  # recall, precision
    confusion: Confusion
    calibration: list[CalibrationBin]


def report_numbers(labels: npt.NDArray[np.int64], proba: FloatMatrix, threshold: float) -> ReportNumbers:
    """Curves, areas, calibration bins and the confusion matrix of out-of-fold predictions."""
    fpr, tpr, _ = roc_curve(labels, proba)
    precision, recall, _ = precision_recall_curve(labels, proba)
    predicted = proba >= threshold
    positive = labels == 1
    confusion = Confusion(
        tn=int(np.sum(~predicted & ~positive)),
        fp=int(np.sum(predicted & ~positive)),
        fn=int(np.sum(~predicted & positive)),
        tp=int(np.sum(predicted & positive)),
    )
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    which = np.clip((proba * CALIBRATION_BINS).astype(np.int64), 0, CALIBRATION_BINS - 1)
    bins = []
    for b in range(CALIBRATION_BINS):
        inside = which == b
        rows = int(inside.sum())
        bins.append(
            CalibrationBin(
                low=float(edges[b]),
                high=float(edges[b + 1]),
                rows=rows,
                mean_predicted=float(proba[inside].mean()) if rows else math.nan,
                observed=float(labels[inside].mean()) if rows else math.nan,
            )
        )
    return ReportNumbers(
        auc=float(roc_auc_score(labels, proba)),
        average_precision=float(average_precision_score(labels, proba)),
        brier=float(brier_score_loss(labels, proba)),
        roc=(np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)),
        pr=(np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)),
        confusion=confusion,
        calibration=bins,
    )


@dataclass(frozen=True)
class Spread:
    mean: float
    sd: float
    low: float
    high: float


def spread(values: Sequence[float]) -> Spread:
    """Mean (as the leaderboard's), sample standard deviation, min and max of one metric over the folds."""
    array = np.asarray(values, dtype=np.float64)
    sd = float(array.std(ddof=1)) if len(array) > 1 else 0.0
    return Spread(float(np.mean(array)), sd, float(array.min()), float(array.max()))


# ------------------------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class _Frame:
    """A plot area inside a viewBox: data ranges mapped to viewBox units (y grows upwards)."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    x_range: tuple[float, float] = (0.0, 1.0)
    y_range: tuple[float, float] = (0.0, 1.0)

    def x(self, value: float) -> float:
        lo, hi = self.x_range
        return self.left + (value - lo) / ((hi - lo) or 1.0) * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        lo, hi = self.y_range
        return self.height - self.bottom - (value - lo) / ((hi - lo) or 1.0) * (self.height - self.top - self.bottom)

    @property
    def x_end(self) -> float:
        return self.width - self.right

    @property
    def y_end(self) -> float:
        return self.height - self.bottom


def _c(value: float) -> str:
    """A coordinate with one decimal: plenty at any screen size, and a third of the bytes of full floats."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(chart_id: str, label: str, frame: _Frame, body: Iterable[str], description: str = "") -> str:
    """An accessible chart: role img, its label as aria-label and <title>, a longer <desc> when given."""
    desc = f"<desc>{esc(description)}</desc>" if description else ""
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {_c(frame.width)} {_c(frame.height)}" role="img" '
        f'aria-label="{esc(label)}" preserveAspectRatio="xMidYMid meet"><title>{esc(label)}</title>{desc}'
        + "".join(body)
        + "</svg>"
    )


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def _axes(
    frame: _Frame,
    x_ticks: Sequence[float],
    y_ticks: Sequence[float],
    x_label: str,
    y_label: str,
    digits: int = 1,
) -> list[str]:
    parts = []
    for t in y_ticks:
        y = _c(frame.y(t))
        parts.append(f'<line class="grid" x1="{_c(frame.left)}" y1="{y}" x2="{_c(frame.x_end)}" y2="{y}"/>')
        parts.append(f'<text class="tick" x="{_c(frame.left - 6)}" y="{y}" text-anchor="end" dy="0.32em">')
        parts.append(f"{t:.{digits}f}</text>")
    for t in x_ticks:
        x = _c(frame.x(t))
        parts.append(f'<line class="grid" x1="{x}" y1="{_c(frame.top)}" x2="{x}" y2="{_c(frame.y_end)}"/>')
        parts.append(
            f'<text class="tick" x="{x}" y="{_c(frame.y_end + 16)}" text-anchor="middle">{t:.{digits}f}</text>'
        )
    parts.append(
        f'<path class="axis" d="M{_c(frame.left)} {_c(frame.top)}V{_c(frame.y_end)}H{_c(frame.x_end)}"/>'
        f'<text class="label" x="{_c((frame.left + frame.x_end) / 2)}" y="{_c(frame.height - 6)}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
        f'<text class="label" transform="translate(14 {_c((frame.top + frame.y_end) / 2)}) rotate(-90)" '
        f'text-anchor="middle">{esc(y_label)}</text>'
    )
    return parts


def thin(xs: FloatMatrix, ys: FloatMatrix, step: float = _MIN_STEP) -> list[tuple[float, float]]:
    """The curve's points at least `step` apart (axes scaled to 0-1), first and last always kept."""
    if len(xs) == 0:
        return []
    kept = [(float(xs[0]), float(ys[0]))]
    for x, y in zip(xs[1:-1].tolist(), ys[1:-1].tolist(), strict=True):
        px, py = kept[-1]
        if abs(x - px) + abs(y - py) >= step:
            kept.append((x, y))
    if len(xs) > 1:
        kept.append((float(xs[-1]), float(ys[-1])))
    return kept


def _polyline(frame: _Frame, points: Sequence[tuple[float, float]], css: str) -> str:
    joined = " ".join(f"{_c(frame.x(x))},{_c(frame.y(y))}" for x, y in points)
    return f'<polyline class="{css}" points="{joined}"/>'


def _area(frame: _Frame, points: Sequence[tuple[float, float]]) -> str:
    joined = " ".join(f"{_c(frame.x(x))},{_c(frame.y(y))}" for x, y in points)
    base = f"{_c(frame.x(points[-1][0]))},{_c(frame.y(0))} {_c(frame.x(points[0][0]))},{_c(frame.y(0))}"
    return f'<polygon class="area" points="{joined} {base}"/>'


def _point(frame: _Frame, x: float, y: float, text: str, *, above: bool) -> str:
    """The model's operating point at the decision threshold, labelled on the side away from the curve."""
    cx, cy = frame.x(x), frame.y(y)
    right = x < 0.6
    dx = 9 if right else -9
    dy = -9 if above and right else 17
    return (
        f'<circle class="op" cx="{_c(cx)}" cy="{_c(cy)}" r="5"/>'
        f'<text class="note" x="{_c(cx + dx)}" y="{_c(cy + dy)}" text-anchor="{"start" if right else "end"}">'
        f"{esc(text)}</text>"
    )


_TICKS: Final = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def roc_chart(numbers: ReportNumbers, threshold: float) -> str:
    frame = _Frame(width=380, height=350, left=50, right=14, top=12, bottom=42)
    fpr, tpr = numbers.roc
    points = thin(fpr, tpr)
    cm = numbers.confusion
    label = f"ROC curve, AUC {_num(numbers.auc)}"
    body = [
        *_axes(frame, _TICKS, _TICKS, "False positive rate", "True positive rate (recall)"),
        _area(frame, points),
        f'<line class="ref" x1="{_c(frame.x(0))}" y1="{_c(frame.y(0))}" x2="{_c(frame.x(1))}" y2="{_c(frame.y(1))}"/>',
        _polyline(frame, points, "curve"),
        _point(frame, cm.fallout, cm.recall, f"threshold {threshold:g}", above=False),
        f'<text class="big" x="{_c(frame.x(0.97))}" y="{_c(frame.y(0.06))}" text-anchor="end">'
        f"AUC {_num(numbers.auc)}</text>",
    ]
    description = (
        f"True positive rate against false positive rate of the winner's out-of-fold predictions; the dashed "
        f"diagonal is a random guess. At threshold {threshold:g}: true positive rate {_num(cm.recall, 3)}, "
        f"false positive rate {_num(cm.fallout, 3)}."
    )
    return _svg("roc-chart", label, frame, body, description)


def pr_chart(numbers: ReportNumbers, positive_rate: float, threshold: float) -> str:
    frame = _Frame(width=380, height=350, left=50, right=14, top=12, bottom=42)
    recall, precision = numbers.pr
    points = thin(recall[::-1], precision[::-1])
    cm = numbers.confusion
    label = f"Precision-recall curve, AUC (average precision) {_num(numbers.average_precision)}"
    base = frame.y(positive_rate)
    body = [
        *_axes(frame, _TICKS, _TICKS, "Recall (true positive rate)", "Precision"),
        _area(frame, points),
        f'<line class="ref" x1="{_c(frame.x(0))}" y1="{_c(base)}" x2="{_c(frame.x(1))}" y2="{_c(base)}"/>',
        f'<text class="note ref-note" x="{_c(frame.x(0.03))}" y="{_c(base + 15 if positive_rate > 0.1 else base - 6)}">'
        f"positive rate {_pct(positive_rate)}</text>",
        _polyline(frame, points, "curve"),
        _point(frame, cm.recall, cm.precision, f"threshold {threshold:g}", above=True),
        f'<text class="big" x="{_c(frame.x(0.97))}" y="{_c(frame.y(0.93))}" text-anchor="end">'
        f"AP {_num(numbers.average_precision)}</text>",
    ]
    description = (
        f"Precision against recall of the winner's out-of-fold predictions; the dashed line is the share of "
        f"positives, what a random guess reaches. At threshold {threshold:g}: precision "
        f"{_num(cm.precision, 3)}, recall {_num(cm.recall, 3)}."
    )
    return _svg("pr-chart", label, frame, body, description)


def calibration_chart(numbers: ReportNumbers) -> str:
    frame = _Frame(width=380, height=350, left=50, right=14, top=12, bottom=112)
    hist = _Frame(width=380, height=350, left=50, right=14, top=262, bottom=42)
    bins = numbers.calibration
    filled = [b for b in bins if b.rows]
    body = [
        *_axes(frame, (), _TICKS, "", "Observed share positive"),
        f'<line class="ref" x1="{_c(frame.x(0))}" y1="{_c(frame.y(0))}" x2="{_c(frame.x(1))}" y2="{_c(frame.y(1))}"/>',
        _polyline(frame, [(b.mean_predicted, b.observed) for b in filled], "curve"),
    ]
    for b in filled:
        body.append(f'<circle class="dot" cx="{_c(frame.x(b.mean_predicted))}" cy="{_c(frame.y(b.observed))}" r="4"/>')
    # Rows per bin below, on a log scale: most rows sit in the lowest bin.
    most = max((b.rows for b in bins), default=0)
    top = math.log10(1 + most) or 1.0
    slot = (hist.x_end - hist.left) / len(bins)
    for i, b in enumerate(bins):
        height = (hist.y_end - hist.top) * math.log10(1 + b.rows) / top
        x = hist.left + i * slot
        body.append(
            f'<rect class="bar" x="{_c(x + 2)}" y="{_c(hist.y_end - height)}" width="{_c(slot - 4)}" '
            f'height="{_c(height)}"/>'
        )
        body.append(
            f'<text class="count" x="{_c(x + slot / 2)}" y="{_c(hist.y_end - height - 4)}" '
            f'text-anchor="middle">{_compact(b.rows)}</text>'
        )
    body.append(f'<path class="axis" d="M{_c(hist.left)} {_c(hist.y_end)}H{_c(hist.x_end)}"/>')
    for t in _TICKS:
        body.append(
            f'<text class="tick" x="{_c(hist.x(t))}" y="{_c(hist.y_end + 16)}" text-anchor="middle">{t:.1f}</text>'
        )
    body.append(
        f'<text class="label" x="{_c((hist.left + hist.x_end) / 2)}" y="{_c(hist.height - 6)}" '
        f'text-anchor="middle">Predicted probability ({len(bins)} bins; rows per bin, log scale)</text>'
    )
    worst = max(filled, key=lambda b: abs(b.observed - b.mean_predicted) * b.rows, default=None)
    gap = (
        ""
        if worst is None
        else (
            f" The largest weighted gap is in bin {worst.low:.1f}-{worst.high:.1f}: predicted "
            f"{_num(worst.mean_predicted, 3)}, observed {_num(worst.observed, 3)} over {worst.rows:,} rows."
        )
    )
    label = f"Reliability diagram over {len(bins)} bins, Brier score {_num(numbers.brier)}"
    description = (
        "Observed share of positives against the mean predicted probability in each bin; the dashed diagonal is "
        f"perfect calibration. Below, the rows in each bin.{gap}"
    )
    return _svg("calibration-chart", label, frame, body, description)


def importance_chart(importance: dict[str, float], top: int = TOP_FEATURES) -> str:
    shown = list(importance.items())[:top]
    row = 24
    frame = _Frame(width=360, height=20 + row * len(shown), left=108, right=48, top=8, bottom=12)
    largest = max((v for _, v in shown), default=0.0) or 1.0
    body = []
    for i, (name, share) in enumerate(shown):
        y = frame.top + i * row
        width = (frame.x_end - frame.left) * share / largest
        body.append(
            f'<text class="tick" x="{_c(frame.left - 8)}" y="{_c(y + row / 2)}" text-anchor="end" '
            f'dy="0.32em">{esc(name)}</text>'
            f'<rect class="bar" x="{_c(frame.left)}" y="{_c(y + 4)}" width="{_c(max(width, 1))}" '
            f'height="{_c(row - 8)}" rx="2"/>'
            f'<text class="value" x="{_c(frame.left + width + 6)}" y="{_c(y + row / 2)}" dy="0.32em">'
            f"{_pct(share)}</text>"
        )
    body.append(f'<path class="axis" d="M{_c(frame.left)} {_c(frame.top)}V{_c(frame.y_end)}"/>')
    names = ", ".join(f"{name} {_pct(share)}" for name, share in shown[:3])
    label = f"Global feature importance, top {len(shown)} of {len(importance)} features: {names}"
    return _svg("importance-chart", label, frame, body)


def fold_chart(metric: str, title: str, leaderboard: Sequence[CandidateScore]) -> str:
    """One metric's value in every fold (dots) and its mean (a bar), one row per candidate."""
    values = [[f[metric] for f in c.folds] for c in leaderboard]
    flat = [v for vs in values for v in vs] or [0.0, 1.0]
    lo, hi = min(flat), max(flat)
    pad = max((hi - lo) * 0.08, 0.002)
    row = 44
    frame = _Frame(
        width=330,
        height=row * len(leaderboard) + 34,
        left=12,
        right=12,
        top=4,
        bottom=30,
        x_range=(lo - pad, hi + pad),
    )
    body = []
    ticks = np.linspace(lo - pad, hi + pad, 5)[1:-1]
    digits = 3 if hi - lo < 0.05 else 2
    for t in ticks.tolist():
        x = _c(frame.x(t))
        body.append(f'<line class="grid" x1="{x}" y1="{_c(frame.top)}" x2="{x}" y2="{_c(frame.y_end)}"/>')
        body.append(f'<text class="tick" x="{x}" y="{_c(frame.y_end + 18)}" text-anchor="middle">{t:.{digits}f}</text>')
    for i, (candidate, folds) in enumerate(zip(leaderboard, values, strict=True)):
        y = frame.top + i * row
        line = y + 30
        mean = spread(folds).mean
        body.append(f'<text class="tick" x="{_c(frame.left)}" y="{_c(y + 14)}">{esc(candidate.name)}</text>')
        body.append(
            f'<line class="track" x1="{_c(frame.left)}" y1="{_c(line)}" x2="{_c(frame.x_end)}" y2="{_c(line)}"/>'
        )
        for v in folds:
            body.append(f'<circle class="dot" cx="{_c(frame.x(v))}" cy="{_c(line)}" r="4.5"/>')
        body.append(
            f'<line class="mean" x1="{_c(frame.x(mean))}" y1="{_c(line - 9)}" x2="{_c(frame.x(mean))}" '
            f'y2="{_c(line + 9)}"/>'
        )
    body.append(f'<path class="axis" d="M{_c(frame.left)} {_c(frame.y_end)}H{_c(frame.x_end)}"/>')
    summary = "; ".join(f"{c.name} {_num(min(vs))}-{_num(max(vs))}" for c, vs in zip(leaderboard, values, strict=True))
    label = f"{title} in each of {len(values[0]) if values else 0} folds, per candidate: {summary}"
    return _svg(f"folds-{metric}-chart", label, frame, body)


# ------------------------------------------------------------------------------------------- tables


_LEFT: Final = ' class="l"'


def _table(table_id: str, caption: str, head: Sequence[str], rows: Iterable[str], *, left: Sequence[int] = (0,)) -> str:
    """A table in its own horizontally scrolling region, so a narrow screen scrolls the table, not the page.

    The caption is a paragraph above the region (a <caption> is as wide as its table, so on a phone it would
    scroll away with it), naming the table and the region for assistive technology."""
    cells = "".join(f'<th scope="col"{_LEFT if i in left else ""}>{h}</th>' for i, h in enumerate(head))
    return (
        f'<p class="caption" id="{table_id}-caption">{caption}</p>'
        f'<div class="table-wrap" role="region" aria-labelledby="{table_id}-caption" tabindex="0">'
        f'<table id="{table_id}" aria-labelledby="{table_id}-caption">'
        f"<thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def leaderboard_table(result: TrainingResult) -> str:
    rows = []
    for rank, c in enumerate(result.leaderboard, 1):
        best = c.name == result.model.name
        badge = ' <span class="badge">Best model</span>' if best else ""
        row_class = ' class="winner"' if best else ""
        rows.append(
            f'<tr{row_class}><td class="rank">{rank}</td>'
            f'<th scope="row" class="name">{"★&nbsp;" if best else ""}{esc(c.name)}{badge}</th>'
            f"<td>{_num(c.accuracy)}</td><td>{_num(c.auc_weighted)}</td><td>{_num(c.f1_weighted)}</td>"
            f"<td>{c.fit_seconds:.2f}</td></tr>"
        )
    return _table(
        "leaderboard-table",
        f"Candidates by mean AUC_weighted over {len(result.winner.folds)} folds (the primary metric), best first",
        ("Rank", "Candidate", "Accuracy", "AUC_weighted", "F1 (weighted)", "Fit s/fold"),
        rows,
        left=(1,),
    )


def _heat(rate: float) -> str:
    return f"heat{min(4, int(rate * 5)) if math.isfinite(rate) else 0}"


def confusion_table(cm: Confusion, classes: tuple[str, str], threshold: float) -> str:
    no, yes = (esc(c) for c in classes)
    negatives, positives = cm.tn + cm.fp, cm.fn + cm.tp

    def cell(cell_id: str, count: int, of: int, what: str) -> str:
        rate = _share(count, of)
        return (
            f'<td id="{cell_id}" class="{_heat(rate)}" title="{esc(what)}"><span class="count">{count:,}</span>'
            f'<span class="rate">{_pct(rate)}</span></td>'
        )

    rows = [
        f'<tr><th scope="row" class="name">Actual {no}</th>'
        + cell("cm-tn", cm.tn, negatives, "true negatives")
        + cell("cm-fp", cm.fp, negatives, "false positives")
        + f"<td>{negatives:,}</td></tr>",
        f'<tr><th scope="row" class="name">Actual {yes}</th>'
        + cell("cm-fn", cm.fn, positives, "false negatives")
        + cell("cm-tp", cm.tp, positives, "true positives")
        + f"<td>{positives:,}</td></tr>",
        f'<tr class="total"><th scope="row" class="name">Total</th><td>{cm.tn + cm.fn:,}</td><td>{cm.fp + cm.tp:,}</td>'
        f'<td id="cm-total">{cm.total:,}</td></tr>',
    ]
    return _table(
        "confusion-table",
        f"Out-of-fold counts at threshold {threshold:g}; the percentage is the share of the actual class (row)",
        ("", f"Predicted {no}", f"Predicted {yes}", "Total"),
        rows,
    )


def spread_table(leaderboard: Sequence[CandidateScore]) -> str:
    rows = []
    for c in leaderboard:
        cells = [f'<th scope="row" class="name">{esc(c.name)}</th>']
        for metric, _ in METRICS:
            folds = spread([f[metric] for f in c.folds])
            cells.append(
                f'<td data-metric="{metric}"><span class="mean">{_num(folds.mean)} ± {_num(folds.sd)}</span>'
                f'<span class="range">{_num(folds.low)}–{_num(folds.high)}</span></td>'
            )
        fits = [f["fit_seconds"] for f in c.folds if "fit_seconds" in f]
        cells.append(
            f'<td><span class="mean">{np.mean(fits):.2f}</span><span class="range">{min(fits):.2f}–{max(fits):.2f}'
            "</span></td>"
            if fits
            else "<td>n/a</td>"
        )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return _table(
        "spread-table",
        "Each metric over the folds: mean ± sample standard deviation, and below it the lowest–highest fold",
        ["Candidate", *(title for _, title in METRICS), "Fit s"],
        rows,
    )


def fold_details(leaderboard: Sequence[CandidateScore]) -> str:
    """Every fold's numbers, one collapsed block per candidate (a <details>: keyboard-operable, no script)."""
    blocks = []
    for i, c in enumerate(leaderboard):
        rows = []
        for k, f in enumerate(c.folds, 1):
            fit = f"{f['fit_seconds']:.2f}" if "fit_seconds" in f else "n/a"
            rows.append(
                f"<tr><td>{k}</td><td>{_num(f['accuracy'])}</td><td>{_num(f['AUC_weighted'])}</td>"
                f"<td>{_num(f['f1_score_weighted'])}</td><td>{fit}</td></tr>"
            )
        table = _table(
            f"folds-{i}",
            f"{esc(c.name)}: each fold",
            ("Fold", "Accuracy", "AUC_weighted", "F1 (weighted)", "Fit s"),
            rows,
            left=(),
        )
        blocks.append(f"<details><summary>{esc(c.name)}: {len(c.folds)} folds</summary>{table}</details>")
    return "".join(blocks)


def calibration_table(bins: Sequence[CalibrationBin]) -> str:
    rows = [
        f"<tr><td>{b.low:.1f}–{b.high:.1f}</td><td>{b.rows:,}</td><td>{_num(b.mean_predicted, 3)}</td>"
        f"<td>{_num(b.observed, 3)}</td></tr>"
        for b in bins
    ]
    return _table(
        "calibration-table",
        "Rows per bin of predicted probability",
        ("Predicted P", "Rows", "Mean predicted", "Observed share positive"),
        rows,
        left=(),
    )


def importance_table(importance: dict[str, float]) -> str:
    rows = [
        f'<tr><td>{i}</td><th scope="row" class="name">{esc(name)}</th><td>{_pct(share, 2)}</td></tr>'
        for i, (name, share) in enumerate(importance.items(), 1)
    ]
    return _table(
        "importance-table",
        "Share of the winner's importance per column",
        ("Rank", "Feature", "Share"),
        rows,
        left=(1,),
    )


# --------------------------------------------------------------------------------------------- page

_CSS: Final = """
:root{--bg:#f7f7f8;--card:#fff;--ink:#1f1f1f;--ink2:#424242;--muted:#5c5c5c;--line:#e0e0e0;--grid:#ededed;
--accent:#0f6cbd;--accent2:#0c3b5e;--soft:#ebf3fc;--op:#bc4b09;--badge:#0e700e;
--h0:#f5f9fd;--h1:#dbeaf8;--h2:#b4d6fa;--h3:#2886de;--h4:#0f548c;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#141414;--card:#1f1f1f;--ink:#f0f0f0;--ink2:#d6d6d6;--muted:#b3b3b3;
--line:#3d3d3d;--grid:#2e2e2e;--accent:#62abf5;--accent2:#b4d6fa;--soft:#0c2b45;--op:#f59a5b;--badge:#54b054;
--h0:#1b2128;--h1:#0c2b45;--h2:#0f4a7a;--h3:#2886de;--h4:#62abf5}}
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 "Segoe UI",system-ui,-apple-system,"Helvetica Neue",Roboto,Arial,sans-serif}
a{color:var(--accent)}
a:focus-visible,summary:focus-visible,.table-wrap:focus-visible{outline:2px solid var(--accent);outline-offset:2px;
border-radius:3px}
.skip{position:absolute;left:-9999px;top:.5rem;background:var(--card);padding:.5rem 1rem;z-index:2}
.skip:focus{left:.5rem}
.wrap{max-width:1160px;margin:0 auto;padding:0 clamp(.75rem,3vw,2rem)}
header.top{background:var(--card);border-bottom:1px solid var(--line)}
header.top .wrap{padding-top:1rem;padding-bottom:.75rem}
.crumb{margin:0;color:var(--muted);font-size:.85rem}
h1{font-size:1.5rem;font-weight:600;margin:.15rem 0 .25rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;font-weight:600;margin:0 0 .75rem}
h3{font-size:1rem;font-weight:600;margin:1rem 0 .5rem}
.sub{margin:0;color:var(--ink2);overflow-wrap:anywhere}
nav.toc{border-top:1px solid var(--line);margin-top:.75rem;padding-top:.5rem}
nav.toc ol{display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;list-style:none;margin:0;padding:0}
nav.toc a{display:inline-block;padding:.2rem 0;text-decoration:none;font-weight:600;font-size:.9rem}
nav.toc a:hover{text-decoration:underline}
main{display:block;padding-bottom:2rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem clamp(.75rem,2.5vw,1.25rem);
margin:1rem 0;min-width:0;box-shadow:0 1px 2px rgba(0,0,0,.05)}
.note-text{color:var(--muted);font-size:.875rem;margin:.25rem 0 .75rem}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,150px),1fr));gap:.75rem;margin:0 0 1rem}
.kpi{border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:6px;padding:.5rem .75rem}
.kpi .k{color:var(--muted);font-size:.8rem;display:block}
.kpi .v{font-size:1.35rem;font-weight:600;font-variant-numeric:tabular-nums}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,150px),1fr));gap:.6rem 1.5rem;margin:0}
dl.facts div{min-width:0}
dl.facts div.wide{grid-column:span 2}
@media (max-width:330px){dl.facts div.wide{grid-column:auto}}
dt{color:var(--muted);font-size:.8rem}
dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.grid{display:grid;gap:1rem 1.5rem;grid-template-columns:repeat(auto-fit,minmax(min(100%,330px),1fr))}
figure{margin:0;min-width:0}
svg.chart{display:block;width:100%;height:auto;max-width:520px;font-family:inherit}
#importance-chart{max-width:440px}
#confusion-table{width:auto;min-width:min(100%,30rem)}
figcaption{color:var(--muted);font-size:.85rem;margin-top:.4rem}
.chart text{fill:var(--ink2);font-size:12.5px}
.chart .label{fill:var(--muted);font-size:12.5px}
.chart .big{fill:var(--ink);font-size:17px;font-weight:600}
.chart .note{fill:var(--op);font-size:12px}
.chart .ref-note{fill:var(--muted)}
.chart .count,.chart .value{fill:var(--muted);font-size:11px}
.chart .grid{stroke:var(--grid);stroke-width:1}
.chart .axis{stroke:var(--muted);stroke-width:1;fill:none}
.chart .ref{stroke:var(--muted);stroke-width:1.2;stroke-dasharray:5 4}
.chart .curve{stroke:var(--accent);stroke-width:2.4;fill:none;stroke-linejoin:round}
.chart .area{fill:var(--accent);opacity:.1}
.chart .op{fill:var(--op);stroke:var(--card);stroke-width:2}
.chart .dot{fill:var(--accent);fill-opacity:.7;stroke:var(--card);stroke-width:1}
.chart .bar{fill:var(--accent);opacity:.85}
.chart .track{stroke:var(--line);stroke-width:1}
.chart .mean{stroke:var(--ink);stroke-width:2.5}
.table-wrap{overflow-x:auto;max-width:100%;margin:.25rem 0 .75rem}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:.9rem}
.caption{color:var(--muted);font-size:.85rem;margin:.25rem 0 .4rem}
th,td{padding:.45rem .65rem;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
thead th{font-weight:600;color:var(--ink2);border-bottom:2px solid var(--line);vertical-align:bottom}
th.l,th.name{text-align:left}
th.name{white-space:normal;min-width:8.5rem}
td .mean,td .range{display:block}
td .range{color:var(--muted);font-size:.8rem}
tbody th{font-weight:600}
tr.winner{background:var(--soft)}
.badge{display:inline-block;margin-left:.4rem;padding:0 .45rem;border-radius:999px;font-size:.72rem;
font-weight:600;color:#fff;background:var(--badge);vertical-align:middle}
#confusion-table td[id]{text-align:center;min-width:7.5rem}
#confusion-table thead th:nth-child(2),#confusion-table thead th:nth-child(3){text-align:center}
#confusion-table .count{display:block;font-size:1.1rem;font-weight:600}
#confusion-table .rate{display:block;font-size:.8rem}
.heat0{background:var(--h0)}.heat1{background:var(--h1)}.heat2{background:var(--h2)}
.heat3{background:var(--h3);color:#fff}.heat4{background:var(--h4);color:#fff}
tr.total td,tr.total th{color:var(--muted)}
details{border:1px solid var(--line);border-radius:6px;padding:.4rem .75rem;margin:.5rem 0}
summary{cursor:pointer;font-weight:600;padding:.2rem 0}
details[open] summary{margin-bottom:.4rem}
footer{color:var(--muted);font-size:.8rem;padding:1rem 0 2rem}
@media (max-width:480px){body{font-size:14px}h1{font-size:1.25rem}th,td{padding:.4rem .45rem}
#confusion-table td[id]{min-width:0}#confusion-table .count{font-size:1rem}
#confusion-table th{white-space:normal;min-width:0}}
@media print{.skip,nav.toc{display:none}.card{break-inside:avoid;box-shadow:none}}
"""

_WIDE_FACTS: Final = ("Source", "Best model")
_WIDE: Final = ' class="wide"'
_SECTIONS: Final = (
    ("summary", "Summary"),
    ("leaderboard", "Leaderboard"),
    ("curves", "ROC and precision-recall"),
    ("calibration", "Calibration"),
    ("confusion", "Confusion matrix"),
    ("importance", "Feature importance"),
    ("folds", "Per-fold spread"),
)


def _section(section_id: str, title: str, body: str) -> str:
    return (
        f'<section id="{section_id}" class="card" aria-labelledby="{section_id}-h">'
        f'<h2 id="{section_id}-h">{title}</h2>{body}</section>'
    )


def _kpi(label: str, value: str) -> str:
    return f'<div class="kpi"><span class="k">{label}</span><span class="v">{value}</span></div>'


def render_report(result: TrainingResult, *, generated: float | None = None) -> str:
    """The training report of `result` as one HTML page (UTF-8 text, nothing to fetch)."""
    oof = result.out_of_fold
    numbers = report_numbers(oof.labels, oof.proba, oof.threshold)
    winner = result.winner
    classes = result.model.classes
    folds = len(winner.folds)
    cm = numbers.confusion
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(time.time() if generated is None else generated))
    name = esc(result.model.name)

    facts = [
        ("Source", esc(result.source)),
        ("Rows", f"{result.rows:,}"),
        ("Positive class", f"{esc(classes[1])} ({_pct(result.positive_rate)} of rows)"),
        ("Cross-validation", f"{folds}-fold stratified"),
        ("Candidates", str(len(result.leaderboard))),
        ("Best model", f"{name} (version {esc(result.model.version)})"),
        ("Primary metric", "AUC_weighted"),
        ("Training time", f"{result.seconds:.1f} s"),
        ("Decision threshold", f"P({esc(classes[1])}) ≥ {oof.threshold:g}"),
    ]
    summary = (
        '<div class="kpis">'
        + _kpi("AUC_weighted (mean of folds)", _num(winner.auc_weighted))
        + _kpi("Accuracy", _num(winner.accuracy))
        + _kpi("F1 (weighted)", _num(winner.f1_weighted))
        + _kpi("Average precision", _num(numbers.average_precision))
        + '</div><dl class="facts">'
        + "".join(f"<div{_WIDE if k in _WIDE_FACTS else ''}><dt>{k}</dt><dd>{v}</dd></div>" for k, v in facts)
        + "</dl>"
    )
    oof_note = (
        f'<p class="note-text">From the out-of-fold predictions of {name}: every one of the {result.rows:,} rows '
        f"scored by the fold's model that did not train on it, as the leaderboard's numbers are. The served model "
        f"is refit on all rows.</p>"
    )
    curves = (
        oof_note
        + '<div class="grid">'
        + _figure(
            roc_chart(numbers, oof.threshold),
            f"ROC curve of the pooled out-of-fold predictions, AUC {_num(numbers.auc)} (mean of the folds' "
            f"AUC_weighted: {_num(winner.auc_weighted)}). The dot is the decision threshold.",
        )
        + _figure(
            pr_chart(numbers, result.positive_rate, oof.threshold),
            f"Precision-recall curve, AUC (average precision) {_num(numbers.average_precision)}; the dashed "
            f"line is the positive rate, {_pct(result.positive_rate)}.",
        )
        + "</div>"
    )
    calibration = (
        '<div class="grid">'
        + _figure(
            calibration_chart(numbers),
            f"Reliability diagram: points on the diagonal are well calibrated. Brier score {_num(numbers.brier)} "
            "(lower is better).",
        )
        + '<div><p class="note-text">Each point is one bin of predicted probability: its mean prediction across, '
        "the share of its rows that were positive up. Points below the diagonal mean the model promised more "
        "positives than there were; above it, fewer. Bins with few rows (see the counts) are noisy.</p>"
        "<details><summary>Rows per bin</summary>" + calibration_table(numbers.calibration) + "</details></div></div>"
    )
    confusion = (
        f'<p class="note-text">A row is predicted {esc(classes[1])} when P({esc(classes[1])}) ≥ {oof.threshold:g}, '
        "the rule the served model's predict uses.</p>"
        + confusion_table(cm, classes, oof.threshold)
        + '<dl class="facts">'
        + "".join(
            f"<div><dt>{k}</dt><dd>{v}</dd></div>"
            for k, v in (
                ("Accuracy", _num(cm.accuracy)),
                (f"Precision ({esc(classes[1])})", _num(cm.precision)),
                (f"Recall ({esc(classes[1])})", _num(cm.recall)),
                ("Specificity", _num(cm.specificity)),
                (f"F1 ({esc(classes[1])})", _num(cm.f1)),
            )
        )
        + "</dl>"
    )
    importance = (
        _figure(
            importance_chart(result.importance),
            f"Share of {name}'s importance per input column (gain for trees, spread of the term for the linear "
            f"model), top {min(TOP_FEATURES, len(result.importance))}.",
        )
        + f"<details><summary>All {len(result.importance)} features</summary>"
        + importance_table(result.importance)
        + "</details>"
    )
    per_fold = (
        spread_table(result.leaderboard)
        + '<div class="grid">'
        + "".join(
            _figure(fold_chart(metric, title, result.leaderboard), f"{title}: each dot a fold, the bar the mean.")
            for metric, title in METRICS
        )
        + "</div><h3>Every fold</h3>"
        + fold_details(result.leaderboard)
    )
    bodies = {
        "summary": summary,
        "leaderboard": leaderboard_table(result),
        "curves": curves,
        "calibration": calibration,
        "confusion": confusion,
        "importance": importance,
        "folds": per_fold,
    }
    toc = "".join(f'<li><a href="#{sid}">{title}</a></li>' for sid, title in _SECTIONS)
    sections = "".join(_section(sid, title, bodies[sid]) for sid, title in _SECTIONS)
    title = f"Training report: {result.model.name}, AUC_weighted {_num(winner.auc_weighted)} — bankscore"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="bankscore {esc(__version__)}">'
        f'<link rel="icon" href="data:,"><title>{esc(title)}</title><style>{_CSS}</style></head><body>'
        '<a class="skip" href="#main">Skip to the report</a>'
        '<header class="top"><div class="wrap"><p class="crumb">bankscore · training run</p>'
        f"<h1>Training report: {name}</h1>"
        f'<p class="sub">Best of {len(result.leaderboard)} candidates by AUC_weighted, {folds}-fold CV on '
        f"{result.rows:,} rows from {esc(result.source)}</p>"
        f'<nav class="toc" aria-label="Contents"><ol>{toc}</ol></nav></div></header>'
        f'<main id="main" class="wrap">{sections}</main>'
        f'<footer class="wrap">Written by bankscore {esc(__version__)} on {when}. Self-contained: no scripts, '
        "nothing loaded from the network.</footer></body></html>"
    )
