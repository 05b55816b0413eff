"""DESIGN.md section 2: imports point down only. Parsed from the source with
ast, so a violation fails here before it ships."""

from __future__ import annotations

import ast
import pathlib
from typing import Dict, List, Set

PKG = pathlib.Path(__file__).resolve().parents[1] / "mdsdk"

LAYERS: Dict[str, int] = {"values": 0, "protocol": 1, "io": 2, "runtime": 3, "facade": 4, "testing": 5}
VALUES = {"errors", "events", "series", "policy", "intervals", "sessions", "_version", "_validate", "_extras", "bars",
          "_html"}
IO = {"transport", "http"}
RUNTIME = {"connection", "replies", "dispatch", "queues", "cache", "registry"}
FACADE = {"feed", "frames", "replay", "cli", "__init__", "__main__"}
# what every provider package may build on
SHARED_PROTOCOL = ("base", "core", "credentials", "convert", "fields", "ledger", "freshness", "_accel")
THIRD_PARTY_OWNERS = {"websocket": {"transport"}, "requests": {"http"}, "tenacity": {"http"},
                      "pandas": {"frames"}, "numpy": {"frames"}, "websockets": {"testing"}}


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]  # drop "mdsdk"
    if not parts:
        return "facade"
    head = parts[0]
    if head in VALUES:
        return "values"
    if head == "providers":
        return "protocol"
    if head in IO:
        return "io"
    if head in RUNTIME:
        return "runtime"
    if head == "testing":
        return "testing"
    return "facade"


def modules() -> List[pathlib.Path]:
    return sorted(PKG.rglob("*.py"))


def name_of(path: pathlib.Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: pathlib.Path) -> Set[str]:
    tree = ast.parse(path.read_text())
    mod = name_of(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    found: Set[str] = set()
    skipped = set()
    for node in ast.walk(tree):  # imports only for type checkers do not count
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skipped.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    found.update(f"{target}.{a.name}" for a in node.names)
                else:
                    found.add(target)
            elif node.module:
                found.add(node.module)
    return found


def test_imports_point_down_only() -> None:
    problems = []
    for path in modules():
        mod = name_of(path)
        mine = layer_of(mod)
        for imp in imports(path):
            if imp.startswith("mdsdk"):
                theirs = layer_of(imp)
                if mine == "testing":
                    ok = theirs in ("values", "testing") or (
                        imp.startswith("mdsdk.providers") and imp.split(".")[-1] in ("codec",))
                elif mine == "protocol":
                    ok = theirs in ("values", "protocol")
                    if ok and mod.startswith("mdsdk.providers.") and imp.startswith("mdsdk.providers."):
                        mine_pkg = mod.split(".")[2]
                        their_pkg = imp.split(".")[2] if len(imp.split(".")) > 2 else "base"
                        ok = their_pkg in (mine_pkg,) + SHARED_PROTOCOL
                else:
                    ok = LAYERS[theirs] <= LAYERS[mine] and theirs != "testing"
                    if mine == "io" and theirs == "io" and imp != mod:
                        ok = False
                    if mine == "facade" and mod == "mdsdk" and theirs == "facade":
                        ok = True
                if mod == "mdsdk.cli" and theirs == "testing":
                    ok = True  # `mdsdk emulate` runs the emulators: the one sanctioned use
                if mod == "mdsdk.testing.fuzz" and theirs in ("protocol", "io", "runtime"):
                    ok = True  # the fuzz harness drives client protocol objects; no emulator imports it
                if not ok:
                    problems.append(f"{mod} ({mine}) imports {imp} ({theirs})")
            top = imp.split(".")[0]
            owners = THIRD_PARTY_OWNERS.get(top)
            if owners is not None:
                short = mod.split(".")[1] if "." in mod else mod
                if short not in owners:
                    problems.append(f"{mod} imports {top}, which only {sorted(owners)} may import")
    assert not problems, "\n".join(problems)


def test_the_checker_sees_a_violation() -> None:
    assert layer_of("mdsdk.providers.dxlink.protocol") == "protocol"
    assert layer_of("mdsdk.feed") == "facade" and layer_of("mdsdk.errors") == "values"
    assert "mdsdk.errors" in imports(PKG / "providers" / "dxlink" / "protocol.py")
    assert "websocket" in imports(PKG / "transport.py")


def test_every_package_directory_is_a_real_package() -> None:
    # Without __init__.py, find_packages() leaves the directory out of a normal
    # (non-editable) install, which is how `pip install .` once lost mdsdk.testing.
    missing = [str(d.relative_to(PKG.parent)) for d in PKG.rglob("*")
               if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))
               and not (d / "__init__.py").exists()]
    assert not missing, f"directories without __init__.py: {missing}"


PROVIDER_NEUTRAL = ("feed", "connection", "replies", "dispatch", "queues", "cache", "frames", "cli", "replay")


def _provider_names() -> List[str]:
    from mdsdk.registry import PLANNED, known_providers
    return known_providers() + list(PLANNED)


def test_runtime_and_facade_name_no_provider() -> None:
    # A provider plugs in through the registry alone: the spine never names one.
    names = set(_provider_names())
    problems = []
    for short in PROVIDER_NEUTRAL:
        tree = ast.parse((PKG / f"{short}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                words = set(node.value.lower().replace(",", " ").replace("/", " ").split())
                hit = names & words
                if hit and node.value.strip().lower() not in ("",):
                    problems.append(f"{short}.py line {node.lineno}: {node.value!r} names {sorted(hit)}")
    assert not problems, "\n".join(problems)


def test_no_exec_or_eval_in_mdsdk() -> None:
    problems = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("exec", "eval"):
                problems.append(f"{name_of(path)} line {node.lineno}: {node.func.id}()")
    assert not problems, "\n".join(problems)


def test_the_name_checker_sees_a_provider_literal() -> None:
    tree = ast.parse('x = "connect to tradovate now"')
    consts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert set(_provider_names()) & set(consts[0].split())


ARGPARSE_TABLES = {("mdsdk.cli", "_parser")}  # argument tables read best in one piece


def test_modules_and_functions_stay_small() -> None:
    problems = []
    for path in modules():
        src = path.read_text()
        if len(src.splitlines()) > 600:
            problems.append(f"{name_of(path)}: {len(src.splitlines())} lines (limit 600)")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno:
                length = node.end_lineno - node.lineno + 1
                if length > 40 and (name_of(path), node.name) not in ARGPARSE_TABLES:
                    problems.append(f"{name_of(path)}.{node.name}: {length} lines (limit 40)")
    assert not problems, "\n".join(problems)
