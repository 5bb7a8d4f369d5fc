"""Read the Terraform of infra/terraform as plain Python values, and the code it must agree with.

python-hcl2 keeps HCL's quotes on strings (``'"api"'``) and wraps expressions in ``${...}``; ``plain``
drops the quotes and the ``__is_block__`` markers, so a literal reads as its value and an expression
as ``${...}`` text. Nothing here evaluates Terraform: the tests compare literals (role names, entry
points, setting names) and the references that wire them.
"""

from __future__ import annotations

import ast
import copy
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

from tests.conftest import REPO_ROOT

TERRAFORM = REPO_ROOT / "infra" / "terraform"
PACKAGE = REPO_ROOT / "shared" / "eventpulse"


def plain(value: Any) -> Any:
    """python-hcl2's output without HCL quoting (strings unquoted and unescaped, block markers gone)."""
    if isinstance(value, dict):
        return {plain_key(k): plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def plain_key(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


@dataclass
class Module:
    """One folder of .tf files, merged: its locals, resources, variables, module calls."""

    path: Path
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: set[tuple[str, str]] = field(default_factory=set)
    text: str = ""

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        try:
            return self.resources[(kind, name)]
        except KeyError:
            raise AssertionError(f"{self.path.name}: no resource {kind}.{name}") from None

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}


@functools.lru_cache(maxsize=256)
def parse(source: str) -> dict[str, Any]:
    """One file's text, parsed (cached: a mutated copy of the tree re-parses only what changed)."""
    parsed: dict[str, Any] = plain(hcl2.loads(source))
    return parsed


def load_module(path: Path) -> Module:
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        source = tf.read_text(encoding="utf-8")
        module.text += source
        parsed = copy.deepcopy(parse(source))
        for block in parsed.get("locals", []):
            module.locals.update(block)
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    module.resources[(kind, name)] = body
        for block in parsed.get("variable", []):
            module.variables.update(block)
        for block in parsed.get("module", []):
            module.modules.update(block)
        for block in parsed.get("output", []):
            module.outputs.update(block)
        for block in parsed.get("data", []):
            for kind, named in block.items():
                module.data.update((kind, name) for name in named)
    return module


def load_tree(root: Path = TERRAFORM) -> dict[str, Module]:
    """``{"functions": Module, ..., "env/dev": Module, ...}`` for one copy of infra/terraform."""
    tree = {p.name: load_module(p) for p in sorted((root / "modules").iterdir()) if p.is_dir()}
    envs = sorted(p for p in (root / "environments").iterdir() if p.is_dir())
    tree.update({f"env/{p.name}": load_module(p) for p in envs})
    return tree


def block(value: Any) -> dict[str, Any]:
    """A nested block as python-hcl2 gives it (a list of one dict) or a dict."""
    if isinstance(value, list):
        assert len(value) == 1, f"expected one block, found {len(value)}"
        return dict(value[0])
    return dict(value)


def refs(expression: str, prefix: str) -> list[str]:
    """Names referenced as ``prefix.<name>`` in an expression (e.g. ``local`` -> common_env)."""
    return re.findall(rf"\b{re.escape(prefix)}\.(\w+)", expression)


# --- the code -----------------------------------------------------------------------------------


def entry_points(path: Path) -> dict[str, str]:
    """``{function name: decorator}`` of the functions-framework entry points in one main.py."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Attribute) and getattr(deco.value, "id", "") == "functions_framework":
                    found[node.name] = deco.attr
    return found


def module_file(module: str) -> Path | None:
    base = REPO_ROOT / "shared" / Path(*module.split("."))
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").exists() else None


def imported(path: Path, module: str) -> set[str]:
    """The eventpulse modules one file imports (top level and inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: -node.level] if path.name != "__init__.py" else module.split(".")
                if path.name == "__init__.py" and node.level > 1:
                    parts = parts[: -(node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith("eventpulse") and module_file(n) is not None}


CLOSURE_STOPS = ("eventpulse.bootstrap", "eventpulse.runtime", "eventpulse.adapters", "eventpulse.ports")
"""Not followed: the composition root imports every adapter, and the ports only declare methods."""


def import_closure(entry: Path) -> set[str]:
    """Every eventpulse module an entry point's code can reach through imports (see CLOSURE_STOPS)."""
    seen: set[str] = set()
    todo = sorted(imported(entry, "main"))
    while todo:
        name = todo.pop()
        if name in seen or name.startswith(CLOSURE_STOPS):
            continue
        seen.add(name)
        path = module_file(name)
        assert path is not None
        todo += sorted(imported(path, name) - seen)
    return seen
