"""Rebuild excel/bankscore.xlsm from `xlwings quickstart --standalone` (same as `bankscore excel template`).

uv run python excel/build_template.py
"""

from __future__ import annotations

from pathlib import Path

from bankscore.excel.template import TEMPLATE_NAME, build_template

if __name__ == "__main__":
    target = build_template(Path(__file__).resolve().with_name(TEMPLATE_NAME))
    print(f"Wrote {target}")
