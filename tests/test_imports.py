"""The guest's modules from one file (lab.kernel.imports on the host, lab.kernel.locked's
Bundle in the guest): what is served, when it is remade, and what is never served."""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import sys
import time
import types
from pathlib import Path

import pytest

from lab.kernel import imports, locked
from lab.kernel.choice import in_uml


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory of modules the host may bundle, on sys.path like site-packages."""
    root = tmp_path / "site"
    (root / "pkgx").mkdir(parents=True)
    (root / "pkgx" / "__init__.py").write_text("KIND = 'package'\n")
    (root / "pkgx" / "sub.py").write_text("VALUE = 1\n")
    (root / "solo.py").write_text("VALUE = 'solo'\n")
    monkeypatch.setattr(imports, "bundleable", lambda origin: origin.startswith(str(root)))
    monkeypatch.syspath_prepend(str(root))
    return root


def _want(bundle: Path, root: Path, *names: str) -> None:
    files = {"pkgx": "pkgx/__init__.py", "pkgx.sub": "pkgx/sub.py", "solo": "solo.py"}
    Path(locked.wanted_path(str(bundle))).parent.mkdir(parents=True, exist_ok=True)
    Path(locked.wanted_path(str(bundle))).write_text(
        json.dumps({name: str(root / files[name]) for name in names}))


def _load(bundle: locked.Bundle, name: str, path: list[str] | None = None) -> types.ModuleType:
    spec = bundle.find_spec(name, path)
    assert spec is not None and spec.loader is not None, f"{name} is not served"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _touch_later(path: Path, text: str) -> None:
    path.write_text(text)
    later = time.time() + 5
    os.utime(path, (later, later))


def test_no_bundle_before_a_guest_said_what_it_imports(tmp_path: Path) -> None:
    path = imports.bundle_path(tmp_path)
    assert imports.prepare(path) == path and not path.exists()
    assert locked.Bundle(str(path)).modules == {}


def test_modules_come_from_the_bundle_with_their_own_files(site: Path, tmp_path: Path) -> None:
    path = imports.bundle_path(tmp_path / "cache")
    _want(path, site, "pkgx", "pkgx.sub", "solo")
    imports.prepare(path)
    (site / "solo.py").write_text("VALUE = 'changed on disk'\n")  # same size would not do
    bundle = locked.Bundle(str(path))
    solo = _load(bundle, "solo")
    assert solo.VALUE == "solo", "the code must come from the bundle, not from the file"
    assert solo.__file__ == str(site / "solo.py")
    package = _load(bundle, "pkgx")
    assert package.KIND == "package" and package.__path__ == [str(site / "pkgx")]
    assert _load(bundle, "pkgx.sub", package.__path__).VALUE == 1


def test_a_changed_source_is_compiled_again(site: Path, tmp_path: Path) -> None:
    path = imports.bundle_path(tmp_path / "cache")
    _want(path, site, "solo")
    imports.prepare(path)
    before = path.stat().st_mtime_ns
    imports.prepare(path)
    assert path.stat().st_mtime_ns == before, "nothing changed: the bundle stays"
    _touch_later(site / "solo.py", "VALUE = 'new'\n")
    imports.prepare(path)
    assert _load(locked.Bundle(str(path)), "solo").VALUE == "new"


def test_what_python_would_not_find_there_is_not_served(site: Path, tmp_path: Path) -> None:
    path = imports.bundle_path(tmp_path / "cache")
    _want(path, site, "pkgx", "pkgx.sub", "solo")
    imports.prepare(path)
    bundle = locked.Bundle(str(path))
    assert bundle.find_spec("pkgx.sub", [str(tmp_path / "elsewhere")]) is None
    sys.path.remove(str(site))
    assert bundle.find_spec("solo") is None


def test_a_bundle_of_another_python_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "other.bundle"
    code = marshal.dumps(compile("VALUE = 1\n", "x.py", "exec"))
    path.write_bytes(marshal.dumps({"format": imports.FORMAT, "magic": b"\x00\x00\r\n",
                                    "modules": {"x": (str(tmp_path / "x.py"), 0, 0, code)}}))
    assert locked.Bundle(str(path)).modules == {}
    assert imports.prepare(path) == path  # and the host makes its own once guests want
    path.write_bytes(b"not marshal")
    assert locked.Bundle(str(path)).modules == {}


def test_the_guest_writes_what_it_found_on_files(tmp_path: Path) -> None:
    bundle = locked.Bundle(str(tmp_path / "b.bundle"))
    bundle.write_wanted()
    wanted = json.loads(Path(locked.wanted_path(bundle.path)).read_text())
    assert wanted["json.decoder"].endswith("json/decoder.py")
    assert "lab.kernel.locked" not in wanted and "tests.test_imports" not in wanted
    assert all(origin.startswith((sys.prefix, sys.base_prefix)) for origin in wanted.values())
    before = Path(locked.wanted_path(bundle.path)).stat().st_mtime_ns
    bundle.write_wanted()
    assert Path(locked.wanted_path(bundle.path)).stat().st_mtime_ns == before, "nothing new"


@pytest.mark.lab
def test_a_guest_worker_imports_from_the_bundle() -> None:
    if not in_uml():
        pytest.skip("the bundle is for python inside a UML guest; here the host kernel runs the cells")
    if os.environ.get(locked.BUNDLE_VAR) == "off":
        pytest.skip(f"{locked.BUNDLE_VAR}=off: the guest imports file by file, no bundle")
    # locked.py runs as __main__ in the guest: its classes are known by name here
    finders = [f for f in sys.meta_path if type(f).__name__ == "Bundle"]
    assert finders, "the guest's python did not install the bundle's finder"
    if finders[0].modules:  # the first guest ever writes the wanted list only
        served = [m for m in list(sys.modules.values())
                  if type(getattr(m, "__loader__", None)).__name__ == "_BundledLoader"]
        assert served, "a bundle was there but no module came from it"
