"""Each daemon's provisioning facts (how its flavors are obtained, what building them
needs) are data in its own package (lab/daemons/NAME/provision.py), one for each name in
lab.flavors.IMPLEMENTATIONS; setup and doctor read them there."""

from __future__ import annotations

import importlib

import pytest

from lab.cli import doctor
from lab.flavors import IMPLEMENTATIONS, PROVISIONS, parse_flavor, sources_of
from lab.provision.plan import SCRIPTS, plan
from lab.provision_rules import SUITES, TREES, Provision, table


def test_every_implementation_has_its_provision_in_its_own_package() -> None:
    assert list(PROVISIONS) == list(IMPLEMENTATIONS)
    for name in IMPLEMENTATIONS:
        module = importlib.import_module(f"lab.daemons.{name}.provision")
        assert module.PROVISION is PROVISIONS[name] and PROVISIONS[name].daemon == name


def test_the_table_refuses_a_name_without_a_provision_and_a_provision_twice() -> None:
    provisions = tuple(PROVISIONS.values())
    with pytest.raises(TypeError, match=r"IMPLEMENTATIONS \[.*'ikev3d'\] differ"):
        table(provisions, (*IMPLEMENTATIONS, "ikev3d"))
    with pytest.raises(TypeError, match="each implementation needs one provision"):
        table(provisions[1:], IMPLEMENTATIONS)
    with pytest.raises(TypeError, match="each implementation needs one provision"):
        table((*provisions, provisions[0]), IMPLEMENTATIONS)


def test_a_daemon_built_from_source_has_its_script_tools_and_prefix() -> None:
    for p in PROVISIONS.values():
        if not p.from_source:
            assert p.sources == SUITES and p.part() == TREES and not p.tools
            continue
        assert (SCRIPTS / p.script).is_file() and p.tools and p.program
        assert p.part() in doctor.PURPOSE
        assert {t for t, part in doctor.TOOLS if part == p.part()} == set(p.tools)
        for source in p.sources:  # each release and variant has a prefix of its release's
            flavor = parse_flavor(f"{p.daemon}@{source}")
            assert flavor.prefix is not None and flavor.prefix.name == f"{p.daemon}-{p.release(source)}"


def test_a_provision_is_what_flavors_setup_and_doctor_read() -> None:
    made_up = Provision("ikev3d", releases=("1.0",), variants={"lite-1.0": "1.0"},
                        script="build-ikev3d.sh")
    assert made_up.sources == ("1.0", "lite-1.0") and made_up.release("lite-1.0") == "1.0"
    assert made_up.source_word == "release" and made_up.part() == "ikev3d"
    assert sources_of("racoon") == PROVISIONS["racoon"].sources
    racoon = [s for s in plan("racoon@privsep-0.9.1,racoon@0.9.1", own_uml=False).steps
              if s.script == PROVISIONS["racoon"].script]
    assert [(s.title, s.args) for s in racoon] == [("racoon@0.9.1 from source", ("racoon@0.9.1",))]
