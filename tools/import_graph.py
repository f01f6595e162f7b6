"""Import graph of a package: files, module and folder import edges, cycles, imports of others' private names.

Reads the source with ``ast`` (nothing is imported), from the work tree or from a git revision, so a before /
after comparison is one command each:

    python tools/import_graph.py                      # hf_addons/data in the work tree
    python tools/import_graph.py --rev 526eccd        # the same package at a commit
    python tools/import_graph.py --json               # machine-readable

Edges count imports inside functions too (the suite imports lazily); ``top-level`` counts only those run at
import time (the ones that can make an import cycle fail). A folder is the first path component below the
package (``scoring/perplexity.py`` -> ``scoring``); a top-level module is its own folder (``base``).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path


def _sources(root: Path, package_dir: str, rev: str | None) -> dict[str, str]:
    """``{path relative to the package dir: source}`` of every ``.py`` file; plus other files as ``""``."""
    if rev is None:
        base = root / package_dir
        return {
            str(p.relative_to(base)): (p.read_text() if p.suffix == ".py" else "")
            for p in sorted(base.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }
    names = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "-r", "--name-only", rev, package_dir],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    out = {}
    for name in names:
        rel = name[len(package_dir) + 1 :]
        if name.endswith(".py"):
            show = ["git", "-C", str(root), "show", f"{rev}:{name}"]
            out[rel] = subprocess.run(show, check=True, capture_output=True, text=True).stdout
        else:
            out[rel] = ""
    return out


def _module_name(package: str, rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def _imports(module: str, is_package: bool, source: str) -> list[tuple[str, list[str], bool]]:
    """``(imported module, names taken from it, at top level)`` per import statement."""
    tree = ast.parse(source)
    top = set(map(id, tree.body))
    # statements under ``if TYPE_CHECKING:`` and ``try:`` at module level still run at import time
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)):
            top |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, [], id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [a.name for a in node.names], id(node) in top))
    return found


def _cycles(nodes: list[str], edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or (v, v) in edges:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def analyse(root: Path, package: str, rev: str | None) -> dict:
    package_dir = package.replace(".", "/")
    files = _sources(root, package_dir, rev)
    modules = {_module_name(package, rel): (rel, src) for rel, src in files.items() if rel.endswith(".py")}

    def folder(module: str) -> str:
        rel = modules[module][0]
        return rel.split("/")[0].removesuffix(".py")

    def resolve(target: str, names: list[str]) -> list[tuple[str, list[str]]]:
        """The package modules an import reaches: ``from pkg import mod`` reaches ``pkg.mod``."""
        hits = []
        plain = [n for n in names if f"{target}.{n}" not in modules]
        if target in modules and (plain or not names):  # ``import pkg`` or names defined in pkg itself
            hits.append((target, plain))
        hits += [(f"{target}.{n}", []) for n in names if f"{target}.{n}" in modules]
        return hits

    edges: set[tuple[str, str]] = set()
    top_edges: set[tuple[str, str]] = set()
    private: list[str] = []
    for module, (rel, src) in modules.items():
        for target, names, at_top in _imports(module, rel.endswith("__init__.py"), src):
            for hit, taken in resolve(target, names):
                if hit == module:
                    continue
                edges.add((module, hit))
                if at_top:
                    top_edges.add((module, hit))
                # a private name (``_x``, not a dunder) of another module
                private += [
                    f"{module} <- {hit}.{n}" for n in taken if n.startswith("_") and not n.startswith("__")
                ]
    folder_edges = {(folder(a), folder(b)) for a, b in edges if folder(a) != folder(b)}
    nodes = sorted(modules)
    return {
        "package": package,
        "revision": rev or "work tree",
        "files": len(files),
        "python_files": len(modules),
        "python_lines": sum(src.count("\n") for _, src in modules.values()),
        "folders": len({folder(m) for m in modules}),
        "module_edges": len(edges),
        "module_edges_top_level": len(top_edges),
        "folder_edges": len(folder_edges),
        "folder_edge_list": sorted(f"{a} -> {b}" for a, b in folder_edges),
        "cycles": _cycles(nodes, edges),
        "cycles_top_level": _cycles(nodes, top_edges),
        "private_imports": sorted(private),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="hf_addons.data")
    parser.add_argument("--rev", help="a git revision instead of the work tree")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="repository root")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = analyse(Path(args.root), args.package, args.rev)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key, value in result.items():
        if isinstance(value, list):
            print(f"{key}: {len(value)}")
            for item in value:
                print(f"    {' <-> '.join(item) if isinstance(item, list) else item}")
        else:
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
