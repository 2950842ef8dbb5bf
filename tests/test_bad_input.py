"""Bad input, as a careless or hostile user gives it: every case is ONE line that names the
file or option, the field and the value, and says what is allowed. Nothing here runs a
daemon: scenario files, the command line and the pytest options are checked up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli.main import main
from lab.errors import LabError, ScenarioError
from lab.kernel import choice as kernel
from lab.kernel.choice import KernelChoice
from lab.plugin import uml_workers
from lab.scenario import load_scenario

SEED = (Path(__file__).parents[1] / "scenarios" / "files" / "openswan-seed.toml").read_text()

#: (what replaces what in the seed file, words the one-line error must hold)
FILE_CASES: list[tuple[str, str, str, str]] = [
    ('name = "openswan-seed"', "name = 5", "name: 5 is not a string", "allowed:"),
    ('name = "openswan-seed"', 'name = "a\\nb"', "name: 'a\\nb' holds '\\n'", "allowed: 1 to 200"),
    ('name = "openswan-seed"', 'name = ""', "name: ''", "allowed: 1 to 200"),
    ('name = "openswan-seed"', f'name = "{"n" * 201}"', "name: 'nnnn", "allowed: 1 to 200"),
    ('name = "openswan-seed"', 'name = "x\\"; updown = /bin/sh"', "name: ", "holds '\"'"),
    ("ike_version = 1", "ike_version = true", "ike_version: true is not allowed", "allowed: 1, 2"),
    ("ike_version = 1", "ike_version = 1.0", "ike_version: 1.0 is not allowed", "allowed: 1, 2"),
    ("ike_version = 1", 'ike_version = "2"', "ike_version: '2' is not allowed", "allowed: 1, 2"),
    ("ike_lifetime = 3600", "ike_lifetime = true", "ike_lifetime: true is not allowed",
     "allowed: 4..86400 seconds"),
    ("ike_lifetime = 3600", "ike_lifetime = 3", "ike_lifetime: 3 is not allowed", "4..86400"),
    ("ike_lifetime = 3600", "pings = true\nike_lifetime = 3600", "pings: true is not allowed",
     "allowed: 1..100"),
    ("ike_lifetime = 3600", "pings = 0\nike_lifetime = 3600", "pings: 0 is not allowed", "1..100"),
    ("ike_lifetime = 3600", "pings = 2.5\nike_lifetime = 3600", "pings: 2.5 is not allowed", "1..100"),
    ('mode = "transport"', "mode = 1", "mode: 1 is not allowed", "allowed: transport, tunnel"),
    ('mode = "transport"', 'mode = "beet"', "mode: 'beet' is not allowed", "transport, tunnel"),
    ('psk = "verysecret"', "psk = 123", "psk: 123 is not a string", "allowed: printable text"),
    ('psk = "verysecret"', 'psk = ""', "psk: '' is 0 bytes long", "allowed: printable text of 1"),
    ('psk = "verysecret"', 'psk = "x\\"\\n%any %any : PSK \\"y"', "psk: ", "holds '\\n'"),
    ('psk = "verysecret"', f'psk = "{"k" * 256}"', "is 256 bytes long", "1 to 255 bytes"),
    ('psk = "verysecret"', 'psk = "tab\\there"', "psk: 'tab\\there' holds '\\t'", "printable"),
    ('ike = "aes128-sha1-modp2048"', "ike = 5", "ike: 5 is not a proposal", "allowed: a string"),
    ('esp = "aes128-sha1"', 'esp = "aes128-sha1\\n"', "esp: unknown integrity algorithm 'sha1\\n'",
     "allowed: aesxcbc, md5"),
    ('esp = "aes128-sha1"', 'esp = "aes128-sha1"\nexpect = true', "expect: true is not allowed",
     "allowed: established"),
    ('esp = "aes128-sha1"', 'esp = "aes128-sha1"\nfault = 1', "fault: 1 is not allowed",
     "allowed: none, nd-deadlock"),
    ('esp = "aes128-sha1"', 'esp = "aes128-sha1"\ninitiator = false',
     "initiator: false is not allowed", "allowed: left, right"),
    ('esp = "aes128-sha1"', 'esp = "aes128-sha1"\n"x\\ny" = 1', "unknown field 'x\\ny'",
     "allowed: actor, auth, child_lifetime"),
    ('address = "2001:db8:1:1::1"', "address = 5", "left.address: 5 is not a string",
     "allowed: a unicast IPv6 address"),
    ('address = "2001:db8:1:1::1"', "address = 42540766411282592856903984951653826561",
     "left.address: 42540766411282592856903984951653826561 is not a string", "allowed:"),
    ('address = "2001:db8:1:1::1"', 'address = "ff02::1"', "left.address: 'ff02::1' is a multicast",
     "allowed:"),
    ('address = "2001:db8:1:1::1"', 'address = "fe80::1%eth0"',
     "left.address: 'fe80::1%eth0' is a scoped address", "without %scope"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1%x\\" #"',
     "left.address: '2001:db8:1:1::1%x\" #' is a scoped address", "without %scope"),
    ('address = "2001:db8:1:1::1"', 'address = "fe80::1"', "'fe80::1' is a link-local address",
     "allowed:"),
    ('address = "2001:db8:1:1::1"', 'address = "::1"', "'::1' is the loopback address", "allowed:"),
    ('address = "2001:db8:1:1::1"', 'address = "::"', "'::' is the unspecified address", "allowed:"),
    ('address = "2001:db8:1:1::1"', 'address = "::ffff:192.0.2.1"', "is an IPv4-mapped address",
     "allowed:"),
    ('address = "2001:db8:1:1::1"', 'address = "192.0.2.1"',
     "right.address: '2001:db8:2:2::2' is IPv6 but left.address is IPv4", "allowed: the same"),
    ('address = "2001:db8:1:1::1"', 'address = "224.0.0.1"', "'224.0.0.1' is a multicast",
     "allowed:"),
    ('esp = "aes128-sha1"', 'esp = "aes128-sha1"\ntopology = "star"',
     "topology: 'star' is not allowed", "allowed: host-to-host, net-to-net, routed"),
    ('esp = "aes128-sha1"', 'esp = "aes128-sha1"\ntopology = "net-to-net"',
     "left.subnet: missing", "allowed: a network such as"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1"\nsubnet = "10.1.0.0/24"',
     "left.subnet: '10.1.0.0/24' is not allowed in topology host-to-host", "allowed: no subnet"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1"\nsubnet = 7',
     "left.subnet: 7 is not a string", "allowed: a network such as"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:2:2::2"',
     "right.address: '2001:db8:2:2::2' equals left.address", "allowed: two different"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1"\nprefixlen = 0',
     "left.prefixlen: 0 is not allowed", "allowed: 1..128"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1"\nprefixlen = 129',
     "left.prefixlen: 129 is not allowed", "allowed: 1..128"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1"\nprefixlen = true',
     "left.prefixlen: true is not allowed", "allowed: 1..128"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1"\npsk = true',
     "left.psk: true is not a string", "allowed: printable text"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1"\nmode = true',
     "left.mode: true is not allowed", "allowed: transport, tunnel"),
    ('address = "2001:db8:1:1::1"', 'address = "2001:db8:1:1::1"\n"a\\nb" = 1',
     "left.'a\\nb': unknown field", "allowed: address"),
    ('flavor = "libreswan"\n\n[right]', 'flavor = 1\n\n[right]', "left.flavor: 1 is not a string",
     "allowed: libreswan, strongswan or racoon"),
    ('flavor = "libreswan"\n\n[right]', 'flavor = "openswan"\n\n[right]',
     "left.flavor: unknown daemon 'openswan'", "allowed: libreswan, strongswan, racoon"),
    ('flavor = "libreswan"\n\n[right]', 'flavor = "libreswan@jessie"\n\n[right]',
     "left.flavor: unknown suite 'jessie'", "allowed: system, bookworm"),
    ('flavor = "libreswan"\n\n[right]', 'flavor = "libreswan@/x\\ny"\n\n[right]',
     "left.flavor: 'libreswan@/x\\ny' holds '\\n'", "allowed:"),
    ('flavor = "libreswan"\n\n[right]', f'flavor = "strongswan@/{"x" * 300}"\n\n[right]',
     "left.flavor: 'strongswan@/xxx", "is too long a path (allowed: at most 4095 bytes, 255 per"),
]


def _one_line(text: str) -> str:
    assert text and "\n" not in text and "\r" not in text, repr(text)
    return text


@pytest.mark.parametrize(("old", "new", "words", "allowed"), FILE_CASES,
                         ids=[f"{i:02d}-{c[2][:30]}" for i, c in enumerate(FILE_CASES)])
def test_bad_scenario_file(tmp_path: Path, old: str, new: str, words: str, allowed: str) -> None:
    assert SEED.count(old) == 1
    text = SEED.replace(old, new)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    message = _one_line(str(exc.value))
    assert message.startswith(f"{path}: "), message
    assert words in message and allowed in message, message


NET = """topology = "net-to-net"
mode = "tunnel"
[left]
address = "2001:db8:1:1::1"
{left}
[right]
address = "2001:db8:2:2::2"
subnet = "2001:db8:22::/64"
"""


@pytest.mark.parametrize(("left", "words"), [
    ("", "left.subnet: missing (allowed: a network"),
    ('subnet = "fe80::%x\\nconn evil/64"', "left.subnet: 'fe80::%x\\nconn evil/64' has a %scope"),
    ('subnet = "2001:db8:11::1/64"', "left.subnet: '2001:db8:11::1/64' is not a network"),
    ("subnet = 5", "left.subnet: 5 is not a string"),
])
def test_bad_subnet(tmp_path: Path, left: str, words: str) -> None:
    path = tmp_path / "net.toml"
    path.write_text(NET.format(left=left))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    message = _one_line(str(exc.value))
    assert words in message and "allowed" in message, message


def test_a_directory_as_the_scenario(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario(tmp_path)
    assert _one_line(str(exc.value)) == f"{tmp_path}: is a directory (allowed: a scenario TOML file)"


def test_a_binary_scenario_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_bytes(b"name = \"x\"\n\xff\xfe\x00binary")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    message = _one_line(str(exc.value))
    assert message.startswith(f"{path}: not a text file (byte 0xff at offset 11")


def test_a_name_from_the_file_name_says_so(tmp_path: Path) -> None:
    path = tmp_path / "my scenario!.toml"
    path.write_text(SEED.replace('name = "openswan-seed"\n', ""))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    message = _one_line(str(exc.value))
    assert "name: 'my scenario!' holds '!'" in message and "comes from the file name" in message


def test_missing_peer_table(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(SEED.split("[left]")[0]
                    + 'left = "2001:db8:1:1::1"\n[right]\naddress = "2001:db8:2:2::2"\n')
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert "left: a table with at least 'address' is required (found: '2001:db8:1:1::1')" in \
        _one_line(str(exc.value))


# -- the command line ------------------------------------------------------------------
CLI_CASES = [
    (["render", "--psk", ""], "psk: '' is 0 bytes long"),
    (["render", "--psk", 'x"\n%any %any : PSK "y'], "holds '\\n', which is not printable"),
    (["render", "--left", "libreswan@/no/such/tree"], "left.flavor: flavor libreswan@/no/such/tree: no tree"),
    (["render", "--right", "strongswan@/no/such/tree"], "right.flavor: flavor strongswan@/no/such"),
    (["render", "--esp", "aes128-sha1;reboot"], "--esp: unknown integrity algorithm 'sha1;reboot'"),
    (["render", "--ike-proposal", "aes128-sha1-modp2048}"], "--ike-proposal: unknown DH group"),
    (["render", "--left", "libreswan@sid\nx"], "--left: unknown suite 'sid\\nx'"),
]


@pytest.mark.parametrize(("argv", "words"), CLI_CASES, ids=[" ".join(a)[:40] for a, _ in CLI_CASES])
def test_bad_command_line(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    assert main(argv) == 2
    err = _one_line(capsys.readouterr().err.strip())
    assert err.startswith(f"ipsec-lab {argv[0]}: ") and words in err, err


def test_bad_scenario_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--scenario", str(tmp_path)]) == 2
    assert _one_line(capsys.readouterr().err.strip()) == \
        f"ipsec-lab render: {tmp_path}: is a directory (allowed: a scenario TOML file)"


# -- pytest options ------------------------------------------------------------------------
UML = KernelChoice("uml", "the host kernel cannot hold an ESP SA (Protocol not supported)")


def test_n_0_cannot_reach_uml() -> None:
    with pytest.raises(pytest.UsageError) as exc:
        uml_workers(0, UML)
    message = _one_line(str(exc.value))
    assert message.startswith("-n 0: no xdist workers") and "one kernel per xdist worker" in message
    assert "use -n 1 or more" in message
    assert uml_workers(3, UML) == 3 and uml_workers(None, UML) >= 1


def test_host_kernel_without_esp_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel, "in_uml", lambda: False)
    monkeypatch.setattr(kernel, "host_esp",
                        lambda: "the host kernel cannot hold an ESP SA (Protocol not supported)")
    with pytest.raises(LabError) as exc:
        kernel.choose("host")
    message = _one_line(str(exc.value))
    assert message.startswith("--lab-kernel=host: the host kernel cannot hold an ESP SA")
    assert "--lab-kernel=uml" in message and "auto" in message
    monkeypatch.setattr(kernel, "host_esp", lambda: None)
    assert kernel.choose("host").kind == "host"


OPTION_CASES = [
    ({"flavors": ",,"}, "--lab-flavors: ',,' names nothing"),
    ({"flavors": "libreswan@jessie"}, "--lab-flavors: unknown suite 'jessie'"),
    ({"ike": "true"}, "--lab-ike: 'true' is not allowed (allowed: 1, 2"),
    ({"ike": "3"}, "--lab-ike: '3' is not allowed"),
    ({"modes": "beet"}, "--lab-modes: 'beet' is not allowed (allowed: transport, tunnel)"),
    ({"proposals": "aes"}, "--lab-proposals: 'aes' is not allowed (allowed: aes128-sha1"),
    ({"pairs": "libreswan"}, "--lab-pairs: 'libreswan' is not INITIATOR->RESPONDER"),
    ({"pairs": "libreswan->x\ny"}, "--lab-pairs: unknown daemon"),
]


@pytest.mark.parametrize(("given", "words"), OPTION_CASES, ids=[w[:30] for _, w in OPTION_CASES])
def test_bad_matrix_options(given: dict[str, str], words: str) -> None:
    from lab.matrix import MatrixSelection

    args = {"flavors": None, "ike": None, "modes": None, "proposals": None, "pairs": None, **given}
    with pytest.raises(LabError) as exc:
        MatrixSelection.from_options(**args)
    message = _one_line(str(exc.value))
    assert message.startswith(words) or words in message, message


def test_a_missing_uml_kernel_names_the_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kernel, "in_uml", lambda: False)
    with pytest.raises(LabError) as exc:
        kernel.choose("uml", str(tmp_path / "linux"))
    assert f"--lab-uml={tmp_path / 'linux'}: " in _one_line(str(exc.value))
