"""The house's one-way layering: `dora` never imports `ingest`, except the project wiring; and
modules that once imported each other (inside functions, to dodge the circle) do not again."""

from __future__ import annotations

import ast
from pathlib import Path

DORA = Path(__file__).resolve().parents[2] / "dora"
WIRING = {"urls.py", "celery.py"}


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at its top or inside a function or TYPE_CHECKING block;
    `from dora.intake import derive` counts as dora.intake.derive as well as dora.intake."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _module(path: Path) -> str:
    parts = path.relative_to(DORA.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """dora's modules and the dora modules each imports (a package counts as its __init__)."""
    paths = {_module(path): path for path in DORA.rglob("*.py")}
    return {name: _imports(path) & paths.keys() for name, path in paths.items()}


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for name in graph.get(todo.pop(), set()) - seen:
            seen.add(name)
            todo.append(name)
    return seen


def test_dora_never_imports_ingest_outside_the_wiring() -> None:
    offenders = {
        str(path.relative_to(DORA.parent)): sorted(
            name for name in _imports(path) if name.split(".")[0] == "ingest"
        )
        for path in DORA.rglob("*.py")
        if path.relative_to(DORA).as_posix() not in WIRING
    }

    assert {path: names for path, names in offenders.items() if names} == {}


def test_events_and_records_import_one_way() -> None:
    """Intake (dora.intake.events) stores through dora.intake.records; records read the Event from
    dora.intake.event_base and never reach back to dora.intake.events, even inside a function."""
    graph = _graph()

    assert "dora.intake.records" in graph["dora.intake.events"]
    assert "dora.intake.events" not in _reaches(graph, "dora.intake.records")


def test_tasks_and_snapshots_import_one_way() -> None:
    """Dashboard pages (dora.web.snapshots) queue dora.tasks; the tasks run
    dora.web.snapshot_compute and never reach back to dora.web.snapshots."""
    graph = _graph()

    assert "dora.tasks" in graph["dora.web.snapshots"]
    assert "dora.web.snapshots" not in _reaches(graph, "dora.tasks")


def test_derivation_stages_import_one_way() -> None:
    """dora.intake.derive is the derivation's entry: it runs the stages (graph, change sets,
    rollouts, arrivals, failures), and none of them reaches back to it."""
    graph = _graph()
    stages = ("graph", "change_sets", "rollouts", "arrivals", "failures")

    assert {f"dora.intake.{stage}" for stage in stages} <= _reaches(graph, "dora.intake.derive")
    assert [s for s in stages if "dora.intake.derive" in _reaches(graph, f"dora.intake.{s}")] == []


def test_intake_never_imports_the_read_side() -> None:
    """Data flows one way: intake (dora.intake) never reads through dora.reads; of the read side
    only the promotion gate imports intake (it derives a request's pending pairs before reading)."""
    graph = _graph()

    def importing(package: str, imported: str) -> list[str]:
        return sorted(
            name
            for name, names in graph.items()
            if name.startswith(package) and any(n.startswith(imported) for n in names)
        )

    assert importing("dora.intake", "dora.reads") == []
    assert importing("dora.reads", "dora.intake") == ["dora.reads.promotion"]


def test_the_gate_stays_pure() -> None:
    """dora.gates (policy, facts, checks, decision) is plain Python: it reaches no other dora
    module, and none of its modules imports Django."""
    graph = _graph()
    gate = {name for name in graph if name == "dora.gates" or name.startswith("dora.gates.")}
    django = sorted(
        name for name in gate if any(n.split(".")[0] == "django" for n in _imports(_path(name)))
    )

    assert _reaches(graph, "dora.gates") <= gate
    assert django == []


def test_split_modules_import_one_way() -> None:
    """What the pages, the demo and the config writer share is imported by their entry modules,
    never the other way: the shared parts do not reach back to what uses them."""
    graph = _graph()
    pages = {"dora.web.overview", "dora.web.weeks", "dora.web.explain"}

    assert _reaches(graph, "dora.web.page_parts") & pages == set()
    assert "dora.demo" not in set().union(
        *(_reaches(graph, name) for name in graph if name.startswith("dora.demo_history"))
    )
    assert "dora.config.apply" not in _reaches(graph, "dora.config.applier")


def test_model_modules_import_one_way() -> None:
    """dora.models' modules import each other from the estate out: the estate imports none of
    them, the derived facts the records (their foreign keys), the rest only the estate; none
    imports the package itself, whose __init__ imports them all."""
    graph = _graph()
    family = {name for name in graph if name.startswith("dora.models.")}
    within = {name: graph[name] & (family | {"dora.models"}) for name in family}

    assert within == {
        "dora.models.estate": set(),
        "dora.models.records": {"dora.models.estate"},
        "dora.models.derived": {"dora.models.estate", "dora.models.records"},
        "dora.models.access": {"dora.models.estate"},
        "dora.models.gate": {"dora.models.estate"},
        "dora.models.alerts": {"dora.models.estate"},
    }
    assert family <= graph["dora.models"]


def _path(module: str) -> Path:
    path = DORA.parent.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
