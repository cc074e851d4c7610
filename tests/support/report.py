"""A small model trained by this checkout, so with its report.html, and a reader for the report's HTML.

The session's shared model may come from the environment (`BANKSCORE_TEST_MODEL_DIR`), saved by an older
bankscore without a report, so the report tests train their own: 3,000 rows, 3 folds, two candidates (about a
second)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bankscore.server.training import TrainingResult

SMALL_ROWS = 3_000
SMALL_SEED = 7


def train_small() -> TrainingResult:
    from bankscore.bankmarketing.synthetic import generate
    from bankscore.server.training import train

    return train(
        generate(SMALL_ROWS, seed=SMALL_SEED),
        folds=3,
        seed=SMALL_SEED,
        candidates=["LightGBM", "LogisticRegression"],
        source=f"synthetic(rows={SMALL_ROWS}, seed={SMALL_SEED})",
    )


def without_report(model_dir: Path, target: Path) -> Path:
    """A copy of a model directory as a bankscore before reports saved it: no report.html."""
    import shutil

    shutil.copytree(model_dir, target)
    (target / "report.html").unlink()
    return target


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# SVG's own empty elements, written `<x/>` in the page.
SELF_CLOSED = {"line", "path", "polyline", "polygon", "circle", "rect"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    children: list[Element | str] = field(default_factory=list)  # elements and text, in document order

    def all_text(self) -> str:
        return "".join(c if isinstance(c, str) else c.all_text() for c in self.children)

    @property
    def elements(self) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)]

    def walk(self) -> list[Element]:
        out = [self]
        for child in self.elements:
            out += child.walk()
        return out

    def find(self, tag: str) -> list[Element]:
        return [e for e in self.walk() if e.tag == tag]

    def by_id(self, element_id: str) -> Element:
        found = [e for e in self.walk() if e.attrs.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]

    def css(self, tag: str, cls: str) -> list[Element]:
        return [e for e in self.find(tag) if cls in e.attrs.get("class", "").split()]


class _TreeBuilder(HTMLParser):
    """A strict little tree builder: every non-void element must be closed, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.current = self.root
        self.errors: list[str] = []
        self.doctype: str | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if self.current.tag != tag:
            self.errors.append(f"</{tag}> closes <{self.current.tag}>")
            return
        assert self.current.parent is not None
        self.current = self.current.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(page: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(page)
    builder.close()
    assert not builder.errors, builder.errors[:5]
    assert builder.current is builder.root, f"<{builder.current.tag}> is never closed"
    assert builder.doctype is not None and builder.doctype.lower() == "doctype html"
    return builder.root


def attributes(root: Element) -> list[tuple[str, str, Any]]:
    return [(e.tag, name, value) for e in root.walk() for name, value in e.attrs.items()]
