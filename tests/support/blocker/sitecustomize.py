"""Make modules impossible to import in a child process, as if they were not installed.

Put this directory on the child's PYTHONPATH and name the modules in BANKSCORE_TEST_BLOCK
(comma-separated top-level names): importing them, or looking for them with importlib.util.find_spec,
fails with ModuleNotFoundError. Used to prove the fallbacks for what another platform lacks (uvloop on
Windows) and the one-line errors for extras a user didn't install.
"""

import os
import sys

_BLOCKED = frozenset(name for name in os.environ.get("BANKSCORE_TEST_BLOCK", "").split(",") if name)


class _Blocker:
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


if _BLOCKED:
    sys.meta_path.insert(0, _Blocker())
