"""Secrets kept and defaults safe in the CLI: no key in `bankscore score`'s or `health`'s output, succeeding or
failing, and `bankscore serve` on 127.0.0.1 unless told otherwise. (The client's side is in
tests/client/test_security.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bankscore.bankmarketing.synthetic import generate
from tests.support.common import PRIMARY, SECONDARY
from tests.support.serving import serving

BANKSCORE = str(Path(sys.executable).parent / "bankscore")
WRONG = "wrong-key-that-must-not-leak-either-91c2"


def leaks(text: str) -> list[str]:
    return [key for key in (PRIMARY, SECONDARY, WRONG) if key in text]


def test_the_cli_never_prints_a_key(endpoint: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    generate(20, label=False).to_csv(source, index=False)
    keys = tmp_path / "keys"
    outputs = []
    for key_text, code in ((f"{PRIMARY}\n", 0), (f"{WRONG}\n", 1)):
        keys.write_text(key_text)
        for command in (["score", str(source)], ["score", str(source), "-o", str(tmp_path / "o.csv")], ["health"]):
            result = subprocess.run(
                [BANKSCORE, *command, "--endpoint", endpoint.scoring_uri, "--key-file", str(keys)],
                capture_output=True, text=True, timeout=120,
                env={k: v for k, v in os.environ.items() if not k.startswith("BANKSCORE_KEY")},
            )  # fmt: skip
            outputs.append(result.stdout + result.stderr)
            if command[0] == "score":
                assert result.returncode == code, result.stderr
    assert any("401" in text or "key" in text.lower() for text in outputs), "the failing runs said why"
    assert leaks("\n".join(outputs)) == []


def test_serve_listens_on_loopback_only_by_default(tmp_path: Path, model_dir: Path) -> None:
    with serving(["--model", str(model_dir), "--no-auth"], {}, tmp_path) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        listening = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            if not os.path.exists(table):
                continue
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"], f"listening on {listening} (0100007F is 127.0.0.1)"
