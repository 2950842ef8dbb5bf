"""Issue 21, as the hostile user tried it: each input that reached a daemon's file, ran a
command or failed late is now refused up front in ONE line naming the field and what is
allowed. Nothing here runs a daemon."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.cli.main import main
from lab.errors import LabError, ScenarioError, UsageError
from lab.flavors import parse_flavor
from lab.native import NativeLines, check_line, risky
from lab.scenario import load_scenario

HOST = """name = "trust"
auth = "{auth}"
[left]
address = "2001:db8:1:1::1"
flavor = "libreswan"
{left}
[right]
address = "2001:db8:2:2::2"
flavor = "libreswan"
"""
NET = """name = "trust"
topology = "net-to-net"
mode = "tunnel"
[left]
address = "{address}"
subnet = "{subnet}"
[right]
address = "192.0.2.200"
subnet = "10.2.0.0/24"
"""


def one_line(exc: pytest.ExceptionInfo[LabError], *words: str) -> str:
    text = str(exc.value)
    assert "\n" not in text and "\r" not in text and "allowed" in text, text
    for word in words:
        assert word in text, text
    return text


@pytest.mark.parametrize("left", [
    'id = "2001:db8:1:1::1%0\\n\\tleftupdown=\\"cd run;id>pwn\\""',  # the file
    'id = "2001:db8:1:1::1%0 leftupdown=x"',
    'id = "2001:db8:1:1::1%eth0"',
    'id = "@moon.example\\u2028x"',
    'id = "@moon.example\\u0000"',
    'id = "carol@example.org\\u0085"',
    'id = "C=CH, CN=moon\\u2029"',
])
def test_an_identity_cannot_carry_a_scope_or_a_control(tmp_path: Path, left: str) -> None:
    path = tmp_path / "id.toml"
    path.write_text(HOST.format(auth="rsa", left=left))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    one_line(exc, "left.id: ")


@pytest.mark.parametrize(("address", "subnet", "words"), [
    ("192.0.2.1", "10.1.0.0/255.255.255.0", "left.subnet: '10.1.0.0/255.255.255.0' is not"),
    ("192.0.2.1", "10.1.0.0/0.0.0.255", "left.subnet: '10.1.0.0/0.0.0.255' is not"),
    ("192.0.2.1", "10.1.0.1/24", "host bits"),
    ("192.0.2.1", "127.0.0.0/8", "loopback"),
    ("192.0.2.1", "10.1.0.0", "is not a network"),
    ("192.0.2.1", " 10.1.0.0/24", "is not a network"),
    ("192.0.2.0", "10.1.0.0/24", "left.address: '192.0.2.0' is the network address"),
    ("192.0.2.255", "10.1.0.0/24", "left.address: '192.0.2.255' is the broadcast address"),
])
def test_subnets_and_addresses_that_cannot_work(tmp_path: Path, address: str, subnet: str,
                                                words: str) -> None:
    path = tmp_path / "net.toml"
    path.write_text(NET.format(address=address, subnet=subnet))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    one_line(exc, words)


@pytest.mark.parametrize("address", ["2001:db8:1:1::", "2001:db8:1:1:fdff:ffff:ffff:ffff",
                                     "2001:db8:1:1:fdff:ffff:ffff:ff80"])
def test_an_anycast_address_is_refused(tmp_path: Path, address: str) -> None:
    path = tmp_path / "any.toml"
    path.write_text(HOST.format(auth="psk", left="").replace("2001:db8:1:1::1", address))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    one_line(exc, f"left.address: '{address}' is ", "anycast")


@pytest.mark.parametrize("line", [
    r"include /dev/null\# } } } evil { remote_addrs = 192.0.2.66 } } secrets { x = 1 }"
    r" connections { lab { children { lab {",  # finding 4
    r"include a\}b } evil {",
    "a = {x}",  # '{' in a value is text, its '}' closes the section
    "a = { } evil { b = c",
])
def test_a_strongswan_line_is_judged_by_strongswans_lexer(line: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        check_line("strongswan", line, "left.native.strongswan.child[0]")
    one_line(exc, "left.native.strongswan.child[0]: ", "braces")


@pytest.mark.parametrize("line", ['include "/etc/a b"', "a { b = c }", r"include /x\ y",
                                  'a = "}"', "a = b # }"])
def test_a_strongswan_line_that_stays_one_statement_is_taken(line: str) -> None:
    assert check_line("strongswan", line, "left.native.strongswan.child[0]") == line


def test_a_flavor_path_that_is_a_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for impl in ("libreswan", "racoon"):
        with pytest.raises(UsageError) as exc:
            parse_flavor(f"{impl}@{tmp_path}/loop/x", "left.flavor")
        one_line(exc, "left.flavor: ", "cannot resolve")


@pytest.mark.parametrize("argv", [["render", "--scenario="], ["render", "--esp="],
                                  ["render", "--left="], ["render", "--ike-proposal= "],
                                  ["run", "--rundir", "/etc/passwd"],
                                  ["run", "--rundir", "/etc/passwd/x"]])
def test_empty_options_and_a_file_as_rundir_are_one_line(argv: list[str],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    option = argv[1].split("=")[0]
    assert err.count("\n") == 1 and f"{option}: " in err and "allowed" in err, err


@pytest.mark.parametrize("option", ["--lab-rundir={file}", "--lab-flavors=libreswan@{loop}/x"])
def test_pytest_options_that_cannot_work_are_one_line(tmp_path: Path, option: str) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    arg = option.format(file=tmp_path / "file", loop=tmp_path / "loop")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
                           "-p", "no:cacheprovider", arg, __file__], capture_output=True, text=True,
                          check=False, cwd=Path(__file__).parents[1])
    err = proc.stderr.strip()
    assert proc.returncode == 4 and "INTERNALERROR" not in err, err
    assert err.count("\n") == 0 and arg.split("=")[0] in err + proc.stdout, err


@pytest.mark.parametrize(("impl", "place", "line"), [
    ("libreswan", "conn", 'leftupdown="cd run;id>pwn"'), ("strongswan", "charon", "start-scripts { x = id }"),
    ("strongswan", "child", "updown = /bin/x"), ("racoon", "remote", 'script "pwn.sh" phase1_up;'),
    ("racoon", "remote", 'include "/etc/x";')])
def test_run_warns_of_lines_that_run_commands_or_open_files(impl: str, place: str, line: str) -> None:
    native = (NativeLines(impl, place, (line,)),)
    assert risky(native, "left") == [f"left.native.{impl}.{place}: {line}"]
    assert risky((NativeLines(impl, place, ("a = b;" if impl == "racoon" else "a=b",)),), "left") == []
