"""Python in a UML guest with its new memory populated when it is mapped, not page by page.

In a UML guest a page fault costs about 0.1 ms (96 us each over 20 000 pages, measured),
and an xdist worker's imports (pytest, pyroute2, scapy) fault in some 15 000 pages.
``mlockall(MCL_FUTURE)`` makes the guest kernel populate every later mapping at once
when it is made (20 000 pages: 0.12 s instead of 1.9 s); the worker's imports went from
2.75 s to 1.74 s. The lock is not inherited across exec: the daemons and tools the
worker starts do not get it.

It also imports the standard library's and the installed packages' modules from the one
file the host prepared (``lab/kernel/imports.py`` says why and how), and tells the host
which modules it had to find on the file system.

Run as ``python /path/to/lab/kernel/locked.py ARGS`` where ARGS are python's own:
``-c CODE ...`` (execnet's gateway bootstrap), ``-m MODULE ...`` or ``SCRIPT ...``. It runs
by its path, not as ``-m lab.kernel.locked``: the ``lab`` package must not be imported
before pytest marks it for assertion rewriting. It uses the standard library only.
"""

from __future__ import annotations

import marshal
import os
import sys
from importlib.machinery import ModuleSpec, SourceFileLoader

# Only what the bundle's finder needs is imported here, all of it built into python: PID 1
# uses the finder too (lab.kernel.uml.init_script), and what it would import before the
# finder is in place would come file by file. The rest is imported where it is used.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import types
    from typing import NoReturn

MCL_FUTURE = 2
#: a thread's stack is mapped when the thread starts, and locked memory is populated in
#: whole: 8 MiB (the default) would cost 2048 pages per thread; the lab's threads are shallow
THREAD_STACK = 1 << 20


def lock_future_mappings() -> bool:
    """Populate and lock every later mapping of this process; False where the kernel refused."""
    import ctypes
    import threading

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mlockall(MCL_FUTURE) != 0:
        return False
    threading.stack_size(THREAD_STACK)
    return True


#: where the guest finds the host's bundle of modules (see lab/kernel/imports.py); "off"
#: (also on the host) turns it off
BUNDLE_VAR = "IPSEC_LAB_IMPORTS"
#: the wanted list stops growing here
MAX_WANTED = 5000


def wanted_path(bundle: str) -> str:
    """Where the guests write the modules they imported from files, beside the bundle."""
    return os.path.splitext(bundle)[0] + ".wanted.json"


class _BundledLoader(SourceFileLoader):
    """A module whose code comes from the bundle; its file stays its file (tracebacks,
    ``__file__``, resources)."""

    def __init__(self, fullname: str, path: str, code: bytes) -> None:
        super().__init__(fullname, path)
        self._code = code

    def get_code(self, fullname: str) -> types.CodeType:
        return marshal.loads(self._code)


class Bundle:
    """A meta path finder for the modules of the bundle at ``path``: none at all if it
    cannot be read or was written by another python."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.modules: dict[str, tuple] = {}
        try:
            with open(path, "rb") as f:  # loads(read()): marshal.load(f) takes 4 times as long
                data = marshal.loads(f.read())
        except (OSError, EOFError, ValueError, TypeError):
            return
        from importlib.util import MAGIC_NUMBER  # (frozen: no file to read)

        if isinstance(data, dict) and data.get("magic") == MAGIC_NUMBER:
            self.modules = data.get("modules", {})

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        entry = self.modules.get(name)
        if entry is None:
            return None
        origin = entry[0]
        package = os.path.basename(origin) == "__init__.py"
        here = os.path.dirname(origin)
        if (os.path.dirname(here) if package else here) not in (sys.path if path is None else path):
            return None  # where python would not look for it: a package that lives elsewhere
        spec = ModuleSpec(name, _BundledLoader(name, origin, entry[3]), origin=origin,
                          is_package=package)
        if package:
            spec.submodule_search_locations = [here]
        spec.has_location = True
        return spec

    def write_wanted(self) -> None:
        """Add the modules this process found on the file system under python's own
        prefixes (the standard library, the virtual environment's packages) to the list the
        host reads before the next boot."""
        roots = tuple({sys.prefix + os.sep, sys.base_prefix + os.sep})
        found = {}
        for name, module in list(sys.modules.items()):
            spec = getattr(module, "__spec__", None)
            origin = getattr(spec, "origin", None)
            if (isinstance(origin, str) and origin.endswith(".py") and name not in self.modules
                    and origin.startswith(roots)):
                found[name] = origin
        if not found:
            return
        import contextlib
        import json

        wanted = wanted_path(self.path)
        with contextlib.suppress(OSError, ValueError):
            with open(wanted) as f:
                known = json.load(f)
            if isinstance(known, dict) and found.items() <= known.items():
                return
            found = {**known, **found} if isinstance(known, dict) else found
        if len(found) <= MAX_WANTED:
            part = f"{wanted}.{os.getpid()}"
            with contextlib.suppress(OSError):
                try:
                    with open(part, "w") as f:
                        json.dump(found, f)
                    os.replace(part, wanted)
                finally:
                    with contextlib.suppress(OSError):
                        os.unlink(part)


def use_bundle(path: str | None = None) -> Bundle | None:
    """Import from the bundle at ``path`` (default: where BUNDLE_VAR says) from now on."""
    path = path or os.environ.get(BUNDLE_VAR, "off")
    if path == "off":
        return None
    bundle = Bundle(path)
    sys.meta_path.insert(0, bundle)
    return bundle


#: python's options that take no value, and those that take the next word
FLAGS = {"-u", "-B", "-E", "-s", "-S", "-O", "-OO", "-I", "-b", "-bb", "-q", "-P", "-d", "-v"}
WITH_VALUE = {"-X", "-W"}


def command(python: str, argv: list[str]) -> list[str]:
    """``python ARGV`` run through this module: python's own options (execnet gives ``-u``)
    stay in front of this script, the rest follows it."""
    options: list[str] = []
    while argv and (argv[0] in FLAGS or (argv[0] in WITH_VALUE and len(argv) > 1)):
        take = 2 if argv[0] in WITH_VALUE else 1
        options, argv = options + argv[:take], argv[take:]
    return [python, *options, os.path.realpath(__file__), *argv]


def run(argv: list[str]) -> None:
    """Run python's command line ``argv`` (without the interpreter) in this process."""
    # sys.path[0] is this script's directory: make it what python gives ARGV
    import runpy
    import types

    if argv[:1] == ["-c"] and len(argv) >= 2:
        sys.path[0] = ""
        sys.argv = ["-c", *argv[2:]]
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
        exec(compile(argv[1], "<string>", "exec"), main.__dict__)  # as python -c does
    elif argv[:1] == ["-m"] and len(argv) >= 2:
        sys.path[0] = os.getcwd()
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv and not argv[0].startswith("-"):
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        sys.argv = list(argv)
        runpy.run_path(argv[0], run_name="__main__")
    else:
        raise SystemExit(f"locked.py: expected -c CODE, -m MODULE or SCRIPT, got {argv[:2]}")


def leave(argv: list[str], bundle: Bundle | None = None) -> NoReturn:
    """``run(argv)``, then leave without tearing the interpreter down module by module (0.2-0.25 s
    in a guest, after the last test). What a normal exit must do still happens: atexit
    handlers (pytest's) run and both streams are flushed."""
    code = 0
    try:
        run(argv)
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    import atexit
    import contextlib

    atexit._run_exitfuncs()
    if bundle is not None:
        bundle.write_wanted()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    lock_future_mappings()
    leave(sys.argv[1:], use_bundle())
