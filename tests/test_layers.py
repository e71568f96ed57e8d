"""The package in layers: every import of a package module (at the top of a file or inside a
function, where a late import could hide a circle) goes to a lower layer, or to the same
subpackage; and the modules import each other in no circle."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ultrachat_dataset"
# Lowest first. Top-level modules are the base (the folder format, reason codes, chat formats,
# accounting types, errors, turn helpers), except the entry points at the top.
LAYERS = ["base", "release", "stages", "insight", "dataset", "prepare", "training", "generate",
          "explore", "entry"]
SIBLINGS = {"prepare", "training", "generate", "explore"}  # one level: none imports another
ENTRY_POINTS = {"cli", "builder", "__init__"}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "entry"  # ultrachat_dataset/__init__.py
    if parts[1] in LAYERS:  # a subpackage, or a module in one
        return parts[1]
    return "entry" if parts[1] in ENTRY_POINTS else "base"


def rank(layer: str) -> int:
    return LAYERS.index("prepare") if layer in SIBLINGS else LAYERS.index(layer)


def package_imports() -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in its code."""
    modules = {module_of(path): path for path in PACKAGE.rglob("*.py")}
    edges = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    name = ".".join(base + ([node.module] if node.module else []))
                else:
                    name = node.module or ""
                candidates = [name] + [f"{name}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            targets |= {c for c in candidates if c in modules and c != module}
        edges[module] = targets
    return edges


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Imports that go up a layer, or sideways into another subpackage of the same level."""
    wrong = []
    for module, targets in edges.items():
        for target in targets:
            here, there = layer_of(module), layer_of(target)
            if rank(there) > rank(here) or (rank(there) == rank(here) and here != there):
                wrong.append(f"{module} ({here}) imports {target} ({there})")
    return sorted(wrong)


def find_circle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, str] = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                return path + [module, target]
            if target not in state and (found := visit(target, path + [module])):
                return found
        state[module] = "done"
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module, [])):
            return found
    return None


def test_every_import_goes_down_a_layer_or_stays_in_its_subpackage():
    assert violations(package_imports()) == []


def test_no_module_imports_itself_through_a_circle():
    assert find_circle(package_imports()) is None


def test_the_rules_catch_what_they_are_for():
    edges = package_imports()
    assert "ultrachat_dataset.layout" in edges["ultrachat_dataset.dataset.write"]  # edges are read
    # the old layout's faults, as edges
    upward = {"ultrachat_dataset.release.download": {"ultrachat_dataset.prepare.pipeline"},
              "ultrachat_dataset.training.streaming": {"ultrachat_dataset.prepare.pipeline"}}
    assert len(violations(upward)) == 2
    circle = {"ultrachat_dataset.prepare.pipeline": {"ultrachat_dataset.dataset.card"},
              "ultrachat_dataset.dataset.card": {"ultrachat_dataset.insight.load"},
              "ultrachat_dataset.insight.load": {"ultrachat_dataset.prepare.pipeline"}}
    assert find_circle(circle) == ["ultrachat_dataset.dataset.card", "ultrachat_dataset.insight.load",
                                   "ultrachat_dataset.prepare.pipeline", "ultrachat_dataset.dataset.card"]
