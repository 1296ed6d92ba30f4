"""Content hashes for the step cache: of code (normalised, with what it references) and of values.

A step's code hash is taken over its syntax tree, not its text, so comments, blank lines and formatting do
not change it; the docstring is left out too. It includes, recursively, the user functions and classes the
step refers to through its globals or closure, and the constants it reads (``THRESHOLD = 0.3``), because
changing any of those changes what the step computes. Code from the standard library and installed packages
is represented by its package version instead of its source.
"""

from __future__ import annotations

import ast
import datetime as dt
import enum
import hashlib
import inspect
import json
import math
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Mapping
from functools import cache
from importlib import metadata as importlib_metadata
from pathlib import Path, PurePath
from typing import Any

__all__ = ["Unhashable", "code_hash", "digest_of", "value_digest"]

_PARTS_LIMIT = 200  # references followed from one step, so a huge module graph cannot stall hashing


class Unhashable(Exception):  # noqa: N818 - a signal between modules, never shown to users as is
    """A value has no stable content hash (the step's cache is disabled, with a warning)."""


def digest_of(*parts: str | bytes) -> str:
    """sha256 over ``parts``, each length-prefixed so that ("ab", "c") and ("a", "bc") differ."""
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()


# --- code --------------------------------------------------------------------------------------------


def code_hash(function: Callable[..., Any]) -> str:
    """The hash of ``function``'s normalised code and everything of the user's that it references."""
    seen: set[int] = set()
    parts: list[str] = []
    _collect(function, parts, seen)
    return digest_of(*parts)


def _collect(obj: Any, parts: list[str], seen: set[int]) -> None:
    if id(obj) in seen or len(seen) > _PARTS_LIMIT:
        return
    seen.add(id(obj))
    target = inspect.unwrap(obj) if callable(obj) else obj
    parts.append(f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}")
    parts.append(_normalised_source(target))
    code = getattr(target, "__code__", None)
    if code is None:
        if inspect.isclass(target):
            for member in vars(target).values():
                if inspect.isfunction(member) and _is_user_code(member):
                    _collect(member, parts, seen)
        return
    globals_ = getattr(target, "__globals__", {})
    for name in sorted(_names_used(code)):
        if name in globals_:
            _reference(name, globals_[name], parts, seen)
    for cell_name, cell in zip(code.co_freevars, getattr(target, "__closure__", None) or (), strict=False):
        try:
            _reference(cell_name, cell.cell_contents, parts, seen)
        except ValueError:  # an empty cell (a name assigned later)
            continue


def _reference(name: str, value: Any, parts: list[str], seen: set[int]) -> None:
    step_function = getattr(value, "function", None)  # a @step referenced from another step
    if step_function is not None and callable(step_function) and hasattr(value, "cache_settings"):
        value = step_function
    if isinstance(value, types.ModuleType):
        return  # modules are followed through the attributes used, via their package versions below
    if inspect.isfunction(value) or inspect.isclass(value):
        if _is_user_code(value):
            _collect(value, parts, seen)
        else:
            parts.append(f"{name}={_package_version(value)}")
        return
    try:
        parts.append(f"{name}={_constant(value)}")
    except Unhashable:
        return  # an object the code merely uses (a logger, a client): not part of what it computes


@cache
def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(str(Path(root).resolve()) for root in sorted(roots) if root)


def _is_user_code(obj: Any) -> bool:
    """Code the user wrote (hashed by source), as opposed to the standard library and installed packages
    (represented by their version). Loopwright itself counts as a package, even when installed editable."""
    module_name = getattr(obj, "__module__", "") or ""
    if module_name == "loopwright" or module_name.startswith("loopwright."):
        return False
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if file is None:
        return True  # __main__ of a notebook or an interactive session, or a module built at run time
    resolved = str(Path(file).resolve())
    return not any(resolved.startswith(root + "/") for root in _library_roots())


def _package_version(obj: Any) -> str:
    top = (getattr(obj, "__module__", "") or "").split(".")[0]
    try:
        return f"{top}=={importlib_metadata.version(top)}"
    except importlib_metadata.PackageNotFoundError:
        return top


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _names_used(constant)
    return names


def _normalised_source(obj: Any) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is None:
            return repr(obj)
        return str(code.co_code.hex()) + repr(code.co_consts)  # no source (defined in a REPL): use bytecode
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            node.decorator_list = []
            body = node.body
            first = body[0] if body else None
            is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            if is_docstring and isinstance(first.value.value, str) and len(body) > 1:  # type: ignore[union-attr]
                node.body = body[1:]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


# --- values ------------------------------------------------------------------------------------------


def value_digest(value: Any) -> str:
    """A stable content hash of a parameter value; :class:`Unhashable` when there is none."""
    content_hash = getattr(value, "content_hash", None)
    if isinstance(content_hash, str) and hasattr(value, "lineage_ref"):
        return digest_of("dataset", content_hash)  # a dataset version: its logical content
    return digest_of("value", _constant(value))


def _constant(value: Any) -> str:
    """A canonical text for values whose content we can name; raises :class:`Unhashable` otherwise."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _canonical(value: Any, depth: int = 0) -> Any:
    if depth > 64:
        raise Unhashable("nested too deeply")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return {"int": str(value)} if abs(value) > 2**53 else value
    if isinstance(value, float):
        if math.isfinite(value):
            return {"float": value.hex()}
        return {"float": repr(value)}
    if isinstance(value, bytes):
        return {"bytes": hashlib.sha256(value).hexdigest()}
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, dt.datetime | dt.date | dt.time | dt.timedelta):
        return {type(value).__name__: str(value)}
    if isinstance(value, PurePath):
        return {"path": str(value)}
    if isinstance(value, list | tuple):
        return {type(value).__name__: [_canonical(item, depth + 1) for item in value]}
    if isinstance(value, set | frozenset):
        items = sorted(json.dumps(_canonical(item, depth + 1), sort_keys=True) for item in value)
        return {"set": items}
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            return {
                "mapping": sorted(
                    [json.dumps(_canonical(key, depth + 1), sort_keys=True), _canonical(item, depth + 1)]
                    for key, item in value.items()
                )
            }
        return {"dict": {key: _canonical(item, depth + 1) for key, item in value.items()}}
    return _array_like(value)


def _array_like(value: Any) -> Any:
    module = type(value).__module__.split(".")[0]
    if module == "numpy" and hasattr(value, "tobytes") and hasattr(value, "dtype"):
        if value.dtype == object:
            raise Unhashable("a numpy array of Python objects")
        data = value.tobytes() if value.flags.c_contiguous else value.copy(order="C").tobytes()
        return {"ndarray": [str(value.dtype), list(value.shape), hashlib.sha256(data).hexdigest()]}
    if module == "numpy" and hasattr(value, "item"):
        return _canonical(value.item())
    if module == "pandas" and hasattr(value, "to_parquet"):
        import pandas as pd

        frame = value if isinstance(value, pd.DataFrame) else value.to_frame()
        hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
        layout = [[str(column), str(dtype)] for column, dtype in frame.dtypes.items()]
        return {"dataframe": [layout, hashlib.sha256(hashed).hexdigest()]}
    if module == "polars" and hasattr(value, "hash_rows"):
        rows = value.hash_rows(seed=0).to_numpy().tobytes()
        layout = [[name, str(dtype)] for name, dtype in value.schema.items()]
        return {"polars": [layout, hashlib.sha256(rows).hexdigest()]}
    raise Unhashable(f"an object of type {type(value).__qualname__}")
