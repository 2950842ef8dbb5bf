"""The guest's pure-Python imports, read from one file instead of one file each.

A UML guest pays 50-100 us for each system call and its root is the host's file system
through hostfs. An xdist worker or a node id run alone imports some 600 modules, and
python's path finder spends 5 to 10 system calls on each (stat the directory, stat the
source, open, fstat, read and close the cached bytecode): 1.76 s of imports in a guest
became 1.32-1.50 s with one file (measured side by side in one guest).

The host writes that file (the *bundle*) before it boots a guest: the compiled code of
each standard-library or site-packages module the guests asked for, with the size and
modification time of its source. The guest's python (``lab/kernel/locked.py``) reads the
bundle when it starts and imports those modules from it; anything else, the lab's own
modules among them, comes from the file system as usual, and pytest's assertion rewriter,
which runs before every other finder, sees every module it would see otherwise. When the
guest leaves, it writes down the modules it imported from the file system that the bundle
could have held (the *wanted* list); the next boot's bundle has them too.

A bundle is remade when a source changed or the guests want more, and is thrown away when
the python that reads it is not the one that wrote it (another bytecode magic number).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import marshal
import os
import sys
import sysconfig
from pathlib import Path

from lab.kernel.locked import BUNDLE_VAR, wanted_path

__all__ = ["BUNDLE_VAR", "bundle_path", "bundleable", "prepare"]

#: a bundle is a marshalled dict: FORMAT, "magic" and "modules"
FORMAT = 1
#: pyc header: magic, flags, source mtime, source size (PEP 552's timestamp form)
PYC_HEADER = 16


def bundle_path(cache: Path) -> Path:
    """This python's bundle in the cache directory: one per environment (a virtual
    environment's packages are its own) and python version. The guest runs this python."""
    key = hashlib.sha256(f"{sys.prefix} {sys.version}".encode()).hexdigest()[:16]
    return cache / "imports" / f"{key}.bundle"


def bundleable(origin: str) -> bool:
    """Only the standard library and installed packages: never the project's own files,
    which pytest may rewrite and which change while a person works."""
    roots = {sysconfig.get_path(name) for name in ("stdlib", "purelib", "platlib")}
    return origin.endswith(".py") and any(origin.startswith(root + os.sep) for root in roots if root)


def _stamp(origin: str) -> tuple[int, int] | None:
    try:
        st = os.stat(origin)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _code(origin: str) -> bytes | None:
    """The module's marshalled code: its cached bytecode where that matches the source,
    else compiled here."""
    try:
        source = Path(origin).read_bytes()
        st = os.stat(origin)
    except OSError:
        return None
    with contextlib.suppress(OSError, ValueError, NotImplementedError):
        cached = Path(importlib.util.cache_from_source(origin)).read_bytes()
        header = cached[:PYC_HEADER]
        if (len(header) == PYC_HEADER and header[:4] == importlib.util.MAGIC_NUMBER
                and int.from_bytes(header[4:8], "little") == 0
                and int.from_bytes(header[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
                and int.from_bytes(header[12:16], "little") == st.st_size & 0xFFFFFFFF):
            return cached[PYC_HEADER:]
    try:
        return marshal.dumps(compile(source, origin, "exec", dont_inherit=True))
    except (SyntaxError, ValueError):
        return None


def _load(path: Path) -> dict[str, tuple]:
    try:
        with open(path, "rb") as f:
            data = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or data.get("magic") != importlib.util.MAGIC_NUMBER:
        return {}
    return data.get("modules", {})


def _wanted(path: Path) -> dict[str, str]:
    """name -> origin, as the guests wrote them."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def prepare(path: Path) -> Path:
    """The bundle at ``path`` made or remade for the next guest as needed. Before any guest
    has said what it imports there is none: the guest's python then imports from the file
    system and writes its wanted list beside the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wanted = _wanted(Path(wanted_path(str(path))))
    if not wanted:
        return path
    modules = _load(path)
    fresh = {name: entry for name, entry in modules.items()
             if _stamp(entry[0]) == (entry[1], entry[2])}
    missing = {name: origin for name, origin in wanted.items()
               if name not in fresh and bundleable(origin)}
    if len(fresh) == len(modules) and not missing and modules:
        return path
    for name, origin in missing.items():
        stamp, code = _stamp(origin), _code(origin)
        if stamp is not None and code is not None:
            fresh[name] = (origin, *stamp, code)
    part = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        with open(part, "wb") as f:
            marshal.dump({"format": FORMAT, "magic": importlib.util.MAGIC_NUMBER,
                          "modules": fresh}, f)
        os.replace(part, path)  # whole or not at all: concurrent runs race harmlessly
    finally:
        part.unlink(missing_ok=True)
    return path
