"""The house's one-way layering: `dora` never imports `ingest`, except the project wiring."""

from __future__ import annotations

import ast
from pathlib import Path

DORA = Path(__file__).resolve().parents[2] / "dora"
WIRING = {"urls.py", "celery.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_dora_never_imports_ingest_outside_the_wiring() -> None:
    offenders = {
        str(path.relative_to(DORA.parent)): sorted(
            name for name in _imports(path) if name.split(".")[0] == "ingest"
        )
        for path in DORA.rglob("*.py")
        if path.relative_to(DORA).as_posix() not in WIRING
    }

    assert {path: names for path, names in offenders.items() if names} == {}
