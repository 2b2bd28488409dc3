"""The layers import one way: world <- agents <- sim <- dashboard (docs/architecture.md).

Every import of world/, agents/, sim/ and dashboard/ is read from the source with ``ast``: plain and
``from`` imports (relative ones resolved), those under ``if TYPE_CHECKING:`` too, and the string given to
``importlib.import_module`` / ``__import__``. Each import against the rules fails the test, named
``file:line``. Nothing is imported to check it, so a layer cannot hide an import behind a function call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("world", "agents", "sim", "dashboard")

#: The model-serving stack: only sim/llm/ may import it (torch, and what loads weights into it).
TORCH_STACK = frozenset({"torch", "transformers", "accelerate", "safetensors", "gguf"})

#: Where Ray may be imported besides sim/llm/ (the pool and its replicas).
RAY_ALLOWED = {
    # The evaluation runs its simulations as Ray tasks that share one pool (DESIGN.md, "Scale beyond
    # one machine"): these two files start those tasks.
    "sim/evaluation/runner.py",
    "sim/evaluation/bench.py",
}

#: sim/ files that may import the dashboard (the layer above), and what they may import from it.
SIM_TO_DASHBOARD = {
    # `mesaverse dashboard`: the CLI is the entry point of every command; it starts the app's process.
    "sim/cli.py": {"dashboard.launch"},
    # `mesaverse bench dashboard` writes a synthetic store, then times the page's own queries and panels.
    "sim/bench/dashboard.py": {"dashboard", "dashboard.queries", "dashboard.panels"},
}

#: What the dashboard may use of sim/: the store's read side (by name) and the errors.
STORE_READ_SIDE = frozenset({"connect_readonly", "moderation_scores", "DetectionScores"})


@dataclass(frozen=True)
class Import:
    """One import statement (or dynamic import) of a module, as written in a file."""

    file: str  # relative to the repository root, with "/"
    line: int
    module: str  # absolute dotted name
    names: tuple[str, ...] | None  # ``from module import names``; None for ``import module``

    def where(self) -> str:
        return f"{self.file}:{self.line}: {self.module}"


def _module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(rel: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = _module_name(rel).split(".")
    if rel.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _dynamic_target(node: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("x")`` / ``import_module("x")`` / ``__import__("x")``."""
    fn = node.func
    name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    arg = node.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def _is_module(root: Path, dotted: str) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(source: str, rel: Path, root: Path) -> Iterator[Import]:
    """Every import in ``source`` (the file ``rel`` under ``root``), wherever it is: module level,
    functions, ``if TYPE_CHECKING:`` blocks."""
    file = rel.as_posix()
    for node in ast.walk(ast.parse(source, filename=file)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(rel, node)
            names = tuple(a.name for a in node.names)
            yield Import(file, node.lineno, module, names)
            for n in names:  # ``from sim import store`` imports the module sim.store
                if _is_ours(module) and _is_module(root, f"{module}.{n}"):
                    yield Import(file, node.lineno, f"{module}.{n}", None)
        elif isinstance(node, ast.Call) and (target := _dynamic_target(node)) is not None:
            yield Import(file, node.lineno, target, None)


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def _is_ours(module: str) -> bool:
    return _top(module) in LAYERS


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violation(imp: Import) -> str | None:
    """Why ``imp`` breaks the layering, or None when it is allowed."""
    layer = imp.file.split("/", 1)[0]
    top = _top(imp.module)
    if top in TORCH_STACK and not imp.file.startswith("sim/llm/"):
        return "only sim/llm/ may import the torch stack"
    if top == "ray" and not imp.file.startswith("sim/llm/") and imp.file not in RAY_ALLOWED:
        return "Ray is imported only in sim/llm/ and the evaluation's Ray tasks"
    if layer == "world" and top in ("agents", "sim", "dashboard"):
        return "world/ imports nothing from agents/, sim/ or dashboard/"
    if layer == "agents" and top in ("sim", "dashboard"):
        return "agents/ imports world/ only"
    if layer == "sim" and top == "dashboard":
        allowed = SIM_TO_DASHBOARD.get(imp.file, set())
        if imp.module not in allowed:
            return "sim/ does not import the dashboard (the layer above it)"
    if layer == "dashboard" and top in ("world", "agents", "sim"):
        if imp.module == "sim.errors" or (imp.module == "sim" and imp.names == ("errors",)):
            return None
        if imp.module == "sim.store" and imp.names is not None and set(imp.names) <= STORE_READ_SIDE:
            return None
        if imp.module == "sim" and imp.names is not None and set(imp.names) <= {"errors", "store"}:
            return None  # the module form is checked by its own sim.<name> record
        return "the dashboard imports only the store's read side and sim.errors"
    return None


def violations(root: Path) -> list[str]:
    out = []
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            rel = path.relative_to(root)
            for imp in imports_of(path.read_text(encoding="utf-8"), rel, root):
                if (why := violation(imp)) is not None:
                    out.append(f"{imp.where()}: {why}")
    return out


def test_every_import_follows_the_layers() -> None:
    found = violations(ROOT)
    assert not found, "imports against the layers (docs/architecture.md):\n" + "\n".join(found)


def test_the_allowlists_name_files_that_exist() -> None:
    for file in (*RAY_ALLOWED, *SIM_TO_DASHBOARD):
        assert (ROOT / file).is_file(), f"stale allowlist entry {file}"


# -- the checker itself ---------------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("file", "source", "expected"),
    [
        ("world/a.py", "from sim.llm import pool\n", "world/a.py:1: sim.llm"),
        (
            "world/a.py",
            "import importlib\nM = importlib.import_module('agents.lm')\n",
            "world/a.py:2: agents.lm",
        ),
        ("world/a.py", "x = __import__('ray')\n", "world/a.py:1: ray"),
        (
            "agents/a.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sim.model import M\n",
            "agents/a.py:3: sim.model",
        ),
        ("agents/a.py", "def f():\n    import torch\n", "agents/a.py:2: torch"),
        ("sim/model.py", "import transformers\n", "sim/model.py:1: transformers"),
        ("sim/store.py", "import ray\n", "sim/store.py:1: ray"),
        ("sim/runner.py", "from dashboard import queries\n", "sim/runner.py:1: dashboard"),
        ("dashboard/a.py", "from sim.store import EventStore\n", "dashboard/a.py:1: sim.store"),
        ("dashboard/a.py", "from sim import config\n", "dashboard/a.py:1: sim"),
        ("dashboard/a.py", "from world.stats import gini\n", "dashboard/a.py:1: world.stats"),
        (
            "sim/llm/x.py",
            "from ..model import MetaverseModel\nfrom ...dashboard import app\n",
            "sim/llm/x.py:2: dashboard",
        ),
    ],
)
def test_an_import_against_the_layers_is_named_by_file_and_line(
    tmp_path: Path, file: str, source: str, expected: str
) -> None:
    found = violations(_tree(tmp_path, {file: source}))
    assert any(v.startswith(expected) for v in found), found


def test_allowed_imports_pass(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "world/a.py": "import math\nfrom world.stats import gini\n",
            "agents/a.py": "from world.types import Action\nimport mesa\n",
            "sim/a.py": "from agents.lm import Choice\nfrom world import World\n",
            "sim/llm/e.py": "import torch\nimport ray\nfrom transformers import AutoModel\n",
            "sim/evaluation/runner.py": "import ray\n",
            "sim/cli.py": "from dashboard.launch import dashboard_command\n",
            "dashboard/a.py": (
                "import streamlit\nfrom dashboard import queries\nfrom sim.errors import UserError\n"
                "from sim.store import connect_readonly, moderation_scores\n"
            ),
        },
    )
    assert violations(root) == []
