"""The house rules of docs/architecture.md, checked on the source (AST, no import runs).

- `auditstream/` (the composition root) may import anything; nothing imports it.
- `producer/`, `detector/`, `sink/` import only themselves and `shared/`.
- `dashboard/` imports only itself and `shared/`.
- `shared/` imports no project package but itself.
- `detector/core/` imports no Kafka client and, of the project, only itself and
  `shared.schemas`.

Every import counts, at module level or inside a function, and so does a literal name passed
to `importlib.import_module`. A failure names each offending file, line and import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("auditstream", "shared", "producer", "detector", "sink", "dashboard")
SERVICES = ("producer", "detector", "sink")
KAFKA_CLIENTS = ("confluent_kafka", "kafka", "aiokafka")

#: Imports that break a rule today, each with the change that removes it. An entry that no
#: longer matches an import fails the test too, so the list only shrinks.
KNOWN: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    path: str  # relative to the root, with "/"
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every module `path` imports (relative imports resolved, `import_module("x")` too)."""
    rel = path.relative_to(root).as_posix()
    package = _module_of(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append(Import(rel, node.lineno, module))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append(Import(rel, node.lineno, node.args[0].value))
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def violation(imp: Import) -> str | None:
    """Which rule `imp` breaks, or None."""
    owner = imp.path.split("/")[0]
    target = _top(imp.module)
    if owner == "auditstream":
        return None
    if target == "auditstream":
        return "nothing imports the composition root"
    if imp.path.startswith("detector/core/"):
        if target in KAFKA_CLIENTS:
            return "the core imports no Kafka client"
        if target in PACKAGES and not (imp.module.startswith("detector.core")
                                       or imp.module == "shared.schemas"):
            return "the core imports only itself and shared.schemas"
        return None
    if target not in PACKAGES or target == owner:
        return None
    if owner == "shared":
        return "shared/ imports no other package of the project"
    if target != "shared":
        kind = "a service" if owner in SERVICES else "dashboard/"
        return f"{kind} imports only itself and shared/"
    return None


def violations(root: Path, known: dict[tuple[str, str], str]) -> tuple[list[str], list[str]]:
    """(broken rules, stale `known` entries) over every package under `root`."""
    broken: list[str] = []
    seen: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for imp in imports_of(path, root):
                rule = violation(imp)
                if rule is None:
                    continue
                key = (imp.path, imp.module)
                if key in known:
                    seen.add(key)
                    continue
                broken.append(f"{imp}: {rule}")
    stale = [f"{p} no longer imports {m}: remove it from KNOWN" for p, m in known
             if (p, m) not in seen]
    return broken, stale


def test_packages_keep_the_import_rules_of_the_architecture() -> None:
    broken, stale = violations(ROOT, KNOWN)
    assert not broken, "import rules broken:\n" + "\n".join(broken)
    assert not stale, "\n".join(stale)


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("producer/app.py", "import os\nfrom sink.writer import SinkWriter\n",
     "producer/app.py:2 imports sink.writer: a service imports only itself and shared/"),
    ("sink/exports.py", "def f():\n    from dashboard.report import write_report\n",
     "sink/exports.py:2 imports dashboard.report: a service imports only itself and shared/"),
    ("dashboard/report.py", "import detector.offline\n",
     "dashboard/report.py:1 imports detector.offline: dashboard/ imports only itself and shared/"),
    ("shared/cli.py", "import importlib\nimportlib.import_module('producer.cli')\n",
     "shared/cli.py:2 imports producer.cli: shared/ imports no other package of the project"),
    ("shared/x.py", "from auditstream.cli import main\n",
     "shared/x.py:1 imports auditstream.cli: nothing imports the composition root"),
    ("detector/core/engine.py", "from confluent_kafka import Producer\n",
     "detector/core/engine.py:1 imports confluent_kafka: the core imports no Kafka client"),
    ("detector/core/engine.py", "from ..settings import DetectorSettings\n",
     "detector/core/engine.py:1 imports detector.settings: "
     "the core imports only itself and shared.schemas"),
    ("detector/core/rules.py", "from shared.kafka import make_producer\n",
     "detector/core/rules.py:1 imports shared.kafka: "
     "the core imports only itself and shared.schemas"),
])
def test_a_broken_rule_fails_naming_the_file_line_and_import(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    broken, _ = violations(_tree(tmp_path, {name: text}), {})
    assert broken == [expected]


def test_allowed_imports_pass(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "auditstream/cli.py": "import producer.cli, sink.cli, dashboard.report\n",
        "sink/app.py": "from shared.kafka import make_consumer\nfrom . import writer\n",
        "dashboard/pbix.py": "from shared.atomic import atomic_path\nimport pandas\n",
        "detector/core/engine.py": "from shared.schemas import Transaction\nfrom .rules import R\n",
        "shared/kafka.py": "from confluent_kafka import Producer\nfrom shared.errors import E\n",
    })
    assert violations(root, {}) == ([], [])


def test_a_known_exception_that_is_gone_is_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"dashboard/spec.py": "from shared.schemas import X\n"})
    _, stale = violations(root, {("dashboard/spec.py", "shared.columns"): "item 1"})
    assert stale == ["dashboard/spec.py no longer imports shared.columns: remove it from KNOWN"]
