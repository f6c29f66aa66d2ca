"""Rewrite reST cross-reference roles in docstrings to mkdocstrings cross-references.

Usage::

    python tools/rst_roles.py arkor_rx            # rewrite every module of the package
    python tools/rst_roles.py arkor_rx --check    # list what is left, exit 1 if anything is
    python tools/rst_roles.py arkor_rx arkor_rx/samples.py   # only the files named

``:class:`Trainer``` becomes ``[`Trainer`][arkor_rx.trainer.Trainer]``, the
form mkdocstrings (with autorefs) renders as a link. ``~`` shows only the last
name, as in Sphinx. A target is resolved the way a reader would: the enclosing
class first (``:meth:`wait``` inside ``Trainer``), then the module's names,
then the package's facade. It is written as the public path under which the
API reference renders it (a name in a documented module's ``__all__``), else
its defining path. A target the reference does not render (a private helper)
becomes plain code, ```name```, so nothing is left as a literal role; the
script prints each one it could not link.

Rule 1: no docstring text is changed except the roles themselves.
Rule 2: running it twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

ROLE = re.compile(r":(?:py:)?(class|meth|attr|func|mod|data|exc|obj|const):`(!?~?)([^`]+)`")
"""A Sphinx role: ``:class:`~pkg.mod.Name``` (the optional ``py:`` domain too)."""

ROOT = Path(__file__).resolve().parent.parent


def documented_modules(docs: Path) -> list[str]:
    """The modules the API reference renders (``::: module`` lines under docs/reference)."""
    found = []
    for page in sorted((docs / "reference").glob("*.md")):
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("::: "):
                found.append(line[4:].strip())
    return found


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # an optional extra missing, or not a module
        return None


class Resolver:
    """Turns a role's target into the path the reference renders it under."""

    def __init__(self, package: str, documented: list[str]) -> None:
        self.package = package
        self.documented = documented
        self.public: dict[int, str] = {}
        self.rendered_modules = set(documented)
        for name in documented:
            module = _import(name)
            if module is None:
                continue
            for member in getattr(module, "__all__", []):
                obj = getattr(module, member, None)
                if obj is not None and (inspect.isclass(obj) or inspect.isroutine(obj)):
                    self.public.setdefault(id(obj), f"{name}.{member}")

    def path_of(self, obj: Any, fallback: str) -> str | None:
        """The rendered path of ``obj``, or None when the reference does not render it."""
        if inspect.ismodule(obj):
            return obj.__name__ if obj.__name__ in self.rendered_modules else None
        if id(obj) in self.public:
            return self.public[id(obj)]
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if module in self.rendered_modules and qualname and "<" not in qualname:
            return f"{module}.{qualname}"
        return self._rendered_member(fallback)

    def _rendered_member(self, path: str) -> str | None:
        """``path`` when it names a public member (a constant, a field, a property) of a
        rendered module or of a class rendered there, else None."""
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            if ".".join(parts[:cut]) in self.rendered_modules:
                tail = parts[cut:]
                return path if not any(p.startswith("_") for p in tail) else None
        return None

    def resolve(self, target: str, module: ModuleType, owner: type | None) -> str | None:
        """The rendered path of ``target`` as written in ``module`` (inside ``owner``), or None."""
        target = target.lstrip(".").removesuffix("()")
        first, *rest = target.split(".")
        scopes: list[tuple[Any, str]] = []
        if owner is not None:
            scopes.append((owner, self._owner_path(owner)))
        scopes.append((module, module.__name__))
        for facade in (self.package, f"{self.package}.operators"):
            imported = _import(facade)
            if imported is not None:
                scopes.append((imported, facade))
        if first == self.package or first.startswith(f"{self.package}."):
            return self._dotted(target)
        for scope, scope_path in scopes:
            if hasattr(scope, first):
                return self._walk(getattr(scope, first), f"{scope_path}.{first}", rest)
        return None

    def _owner_path(self, owner: type) -> str:
        return self.public.get(id(owner), f"{owner.__module__}.{owner.__qualname__}")

    def _dotted(self, target: str) -> str | None:
        parts = target.split(".")
        for cut in range(len(parts), 0, -1):
            module = _import(".".join(parts[:cut]))
            if module is not None:
                if cut == len(parts):
                    return self.path_of(module, target)
                return self._walk(
                    getattr(module, parts[cut], None), ".".join(parts[: cut + 1]), parts[cut + 1 :]
                )
        return None

    def _walk(self, obj: Any, path: str, rest: list[str]) -> str | None:
        if obj is None:
            return None
        base = self.path_of(obj, path) if (inspect.isclass(obj) or inspect.ismodule(obj)) else None
        for name in rest:
            if not hasattr(obj, name) and not _annotated(obj, name):
                return None
            owner_path = base or path
            obj = getattr(obj, name, None)
            path = f"{owner_path}.{name}"
            base = self.path_of(obj, path) if inspect.isclass(obj) else None
        if rest:
            return base or (path if path.rsplit(".", 1)[0].rsplit(".", 1)[0] else None)
        return self.path_of(obj, path)


def _annotated(obj: Any, name: str) -> bool:
    """A dataclass/pydantic field declared but without a class attribute."""
    return name in getattr(obj, "__annotations__", {}) or name in getattr(obj, "model_fields", {})


def _classes(tree: ast.Module) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, qualified name parts) of every class, outermost first."""

    def walk(node: ast.AST, prefix: list[str]) -> Iterator[tuple[int, int, list[str]]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                names = [*prefix, child.name]
                yield child.lineno, child.end_lineno or child.lineno, names
                yield from walk(child, names)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield from walk(child, [*prefix, child.name, "<locals>"])

    yield from walk(tree, [])


def convert_source(source: str, module: ModuleType, resolver: Resolver) -> tuple[str, list[str]]:
    """The source with every role rewritten, and the targets that could not be linked."""
    tree = ast.parse(source)
    classes = [c for c in _classes(tree) if "<locals>" not in c[2]]
    unresolved: list[str] = []

    def owner_at(line: int) -> type | None:
        inner = None
        for first, last, names in classes:
            if first <= line <= last:
                inner = names
        if inner is None:
            return None
        obj: Any = module
        for name in inner:
            obj = getattr(obj, name, None)
        return obj if inspect.isclass(obj) else None

    def replace(match: re.Match[str]) -> str:
        _role, flags, target = match.groups()
        line = source.count("\n", 0, match.start()) + 1
        shown = target.strip().removeprefix(".")
        if "~" in flags:
            shown = shown.rsplit(".", 1)[-1]
        path = None if "!" in flags else resolver.resolve(target.strip(), module, owner_at(line))
        if path is None:
            unresolved.append(f"{module.__name__}:{line}: {target}")
            return f"`{shown}`"
        return f"[`{shown}`][{path}]"

    lines = []
    for old, new in zip(source.split("\n"), ROLE.sub(replace, source).split("\n"), strict=True):
        lines.extend(reflow(new) if new != old else [new])
    return "\n".join(lines), unresolved


LIMIT = 100
"""The project's line length (ruff): a converted line past it is broken at a space."""

LINK = re.compile(r"\[`[^`]*`\]\[[^\]]*\]|``[^`]*``|`[^`]*`")


def reflow(line: str, limit: int = LIMIT) -> list[str]:
    """Break a too-long docstring line at spaces outside links and code, keeping its indent.

    A markdown paragraph does not mind where its lines break. Doctest and
    table lines are left alone.

    Examples:
        >>> reflow("    a [`X`][p.X] b c d", limit=20)
        ['    a [`X`][p.X] b c', '    d']
    """
    stripped = line.lstrip()
    if len(line) <= limit or stripped.startswith((">>>", "...", "|")):
        return [line]
    indent = line[: len(line) - len(stripped)]
    protected = [(m.start(), m.end()) for m in LINK.finditer(line)]
    cut = None
    for i in range(len(line) - 1, len(indent), -1):
        if line[i] == " " and not any(a <= i < b for a, b in protected):
            if i <= limit or cut is None:
                cut = i
            if i <= limit:
                break
    if cut is None or not line[len(indent) : cut].strip():
        return [line]
    head, tail = line[:cut].rstrip(), indent + line[cut:].lstrip()
    return [head, *reflow(tail, limit)]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", help="the package folder or name, e.g. arkor_rx")
    parser.add_argument("files", nargs="*", help="only these files (default: the whole package)")
    parser.add_argument("--check", action="store_true", help="only list the roles left")
    parser.add_argument("--dry-run", action="store_true", help="convert in memory, write nothing")
    args = parser.parse_args(argv)
    package_dir = (ROOT / args.package).resolve()
    sys.path.insert(0, str(package_dir.parent))
    resolver = Resolver(package_dir.name, documented_modules(ROOT / "docs"))
    left = 0
    only = {Path(f).resolve() for f in args.files}
    for path in sorted(package_dir.rglob("*.py")):
        if only and path not in only:
            continue
        source = path.read_text(encoding="utf-8")
        if not ROLE.search(source):
            continue
        if args.check:
            for match in ROLE.finditer(source):
                line = source.count("\n", 0, match.start()) + 1
                print(f"{path.relative_to(ROOT)}:{line}: {match.group(0)}")
                left += 1
            continue
        module = _import(module_name(path, package_dir.parent))
        if module is None:
            print(f"{path}: cannot import, skipped", file=sys.stderr)
            left += 1
            continue
        new, unresolved = convert_source(source, module, resolver)
        if not args.dry_run:
            path.write_text(new, encoding="utf-8")
        for item in unresolved:
            print(f"not linked (shown as code): {item}")
    return 1 if args.check and left else 0


if __name__ == "__main__":
    raise SystemExit(main())
