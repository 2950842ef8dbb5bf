"""The daemon interface is checked when a driver's class is created, and the registry
of drivers is the list of implementations (lab.flavors.IMPLEMENTATIONS), no more, no less."""

from __future__ import annotations

import pytest

from lab.daemons.base import Daemon, undefined
from lab.daemons.registry import DAEMONS, registry
from lab.flavors import IMPLEMENTATIONS


def test_an_incomplete_driver_fails_when_its_class_is_made_naming_what_it_lacks() -> None:
    with pytest.raises(TypeError) as exc:
        class Half(Daemon):  # no name, no launch(), no initiate()
            def render(self) -> dict[str, str]:
                return {}

            def wait_started(self) -> None: ...

            def load(self) -> None: ...

    text = str(exc.value)
    assert "\n" not in text
    assert text.endswith("Half: a daemon driver must define name, launch(), initiate()"
                         " (lab.daemons.base.Daemon.REQUIRED)")


def test_a_complete_driver_and_an_interface_are_made() -> None:
    class Extra(Daemon, interface=True):  # adds to the interface: not checked
        def extra(self) -> str:
            return "x"

    class Whole(Extra):
        name = "whole"

        def render(self) -> dict[str, str]:
            return {}

        def launch(self) -> None: ...

        def wait_started(self) -> None: ...

        def load(self) -> None: ...

        def initiate(self) -> None: ...

    assert undefined(Extra) == ["name", "render()", "launch()", "wait_started()", "load()",
                                "initiate()"]
    assert undefined(Whole) == []


def test_every_implementation_has_one_driver_and_every_driver_is_complete() -> None:
    assert sorted(DAEMONS) == sorted(IMPLEMENTATIONS)
    assert all(name == cls.name and not undefined(cls) for name, cls in DAEMONS.items())


def test_the_registry_refuses_a_name_without_a_driver_and_a_driver_twice() -> None:
    drivers = tuple(DAEMONS.values())
    with pytest.raises(TypeError, match=r"IMPLEMENTATIONS \[.*'ikev3d'\] differ"):
        registry(drivers, (*IMPLEMENTATIONS, "ikev3d"))
    with pytest.raises(TypeError, match="each implementation needs one driver"):
        registry(drivers[1:], IMPLEMENTATIONS)
    with pytest.raises(TypeError, match="each implementation needs one driver"):
        registry((*drivers, drivers[0]), IMPLEMENTATIONS)


def test_a_hook_with_other_parameters_fails_when_its_class_is_made() -> None:
    with pytest.raises(TypeError, match=r"Odd: rekey\(\) takes \(self\), the interface's"
                                        r" \(self, what\) \(lab.daemons.base.Daemon\)$"):
        class Odd(Daemon, interface=True):
            def rekey(self) -> None: ...  # type: ignore[override]
