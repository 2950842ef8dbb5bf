"""No scenario can add a statement to a daemon's config. Every string field (name, psk,
[left]/[right].psk, the address and anything after '%', the flavor, the peer directory (under TMPDIR) the
paths come from) is fed hostile and arbitrary text; each input is either refused with a
one-line error, or rendered into files that, parsed back (tests/conf_parsers.py), make
exactly the statements a benign scenario makes, with the addresses where they belong and
the PSK decoding to the very bytes of the text."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from conf_parsers import (
    ipsec_conf,
    ipsec_secrets,
    key_paths,
    racoon_psk,
    racoon_statements,
    racoon_tokens,
    strongswan_conf,
    swanctl_secret,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.daemons.base import PeerContext
from lab.daemons.libreswan import probe
from lab.daemons.racoon.conf import identifier as racoon_identifier
from lab.daemons.registry import DAEMONS
from lab.errors import ScenarioError, UsageError
from lab.flavors import parse_flavor
from lab.native import NativeLines
from lab.scenario import NAME_CHARS, PSK_MAX_BYTES, SIDES, Peer, Scenario, seed_scenario

LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"
IMPLS = ("libreswan", "strongswan", "racoon")
RUNDIR = "/tmp/ipl-injection"
#: what an attacker tries: line breaks, quotes, the secrets file's '%any', comments,
#: braces, statement ends, escapes, and encodings a daemon might decode
NASTY = [
    "\n", "\r", '"', "'", "%", "\\", "#", "{", "}", ";", "=", ":", "\t", "\x00", " ",
    'x"\n%any %any : PSK "y', "x\n\tleftupdown=/bin/sh -c 'id > /tmp/pwned'",
    "lab\n    updown = /bin/sh -c \"id > /tmp/pwned\"", "}\nconnections { evil { version = 1 } }",
    '"; path include "/etc"; #', "x; flush; spdflush;", "a\\b", "a\\\"b", "0sFpZ\"#%\\x",
    "0x41", "0s QUFB", "0tplain", "%any", "%eth0", "%eth0\nconn evil", "eth0\" #",
    "\u2028", "\u2029", "\u0085", "\ufeff", "é", "😀", "x" * 300,
    # issue 21: an IPv6 scope may hold any text but '%' and '/'
    '0\n\tleftupdown="cd run;id>pwn"', "0 x", "x;", '0"', "eth0}", "0\x00",
]
TEXT = st.one_of(st.sampled_from(NASTY), st.text(max_size=40),
                 st.text(alphabet=string.printable + "é\u2028\u2029\u0085\x00", max_size=40))
#: (field, the value around the generated text: {text} marks its place, else it goes last)
FIELDS = [("name", ""), ("name", "lab-"), ("psk", ""), ("psk", "0s"), ("psk", "0x"),
          ("left.psk", ""), ("right.psk", ""), ("left.address", ""), ("left.address", f"{LEFT}%"),
          ("right.address", f"{RIGHT}%"), ("left.flavor", "{impl}@"), ("right.flavor", "{impl}@/"),
          ("peerdir", ""), ("left.subnet", ""), ("right.subnet", "2001:db8:22::%{text}/64"),
          ("left.id", ""), ("left.id", "C=CH, CN={text}"), ("right.id", "@moon.{text}"),
          ("left.id", f"{LEFT}%"), ("right.id", "{text}@example.org"), ("right.id", f"{RIGHT}%"),
          ("left.subnet", "2001:db8:11::/"), ("left.subnet", "{text}2001:db8:11::/64")]


def fill(template: str, impl: str, text: str) -> str:
    template = template.replace("{impl}", impl)
    return template.replace("{text}", text) if "{text}" in template else template + text


def build(impl: str, field: str, value: str) -> tuple[Scenario, str]:
    """The seed scenario with ``field`` set to ``value`` (raises if it is refused)."""
    peers: dict[str, dict[str, Any]] = {"left": {"address": LEFT, "flavor": impl},
                                        "right": {"address": RIGHT, "flavor": impl}}
    top: dict[str, Any] = {"name": "injection"}
    if field.endswith(".subnet"):  # subnets need net-to-net, in tunnel mode
        top.update(topology="net-to-net", mode="tunnel")
        peers["left"]["subnet"], peers["right"]["subnet"] = "2001:db8:11::/64", "2001:db8:22::/64"
    rundir = RUNDIR
    if field == "peerdir":
        rundir = f"{RUNDIR}/{value}"
    elif "." in field:
        side, key = field.split(".")
        peers[side][key] = value
    else:
        top[field] = value
    s = seed_scenario(ike_version=1 if impl == "racoon" else 2, ike="aes128-sha1-modp2048").with_(
        left=Peer(**peers["left"]), right=Peer(**peers["right"]), **top)
    return s, rundir


def render(s: Scenario, side: str, rundir: str) -> tuple[dict[str, str], PeerContext]:
    flavor = parse_flavor(s.peer(side).flavor)
    ctx = PeerContext(side, f"ipl-inj-{side[0]}", Path(rundir) / side, flavor, "t", Path(RUNDIR))
    with mock.patch.object(probe, "pluto_version", lambda flavor, tag: "5.2"):
        return DAEMONS[flavor.impl](s, ctx).render(), ctx


def statements(impl: str, files: dict[str, str], s: Scenario, side: str,
               ctx: PeerContext) -> object:
    """What the files say, values aside; and assert the values that come from the scenario."""
    me, other = s.peer(side).address, s.peer("right" if side == "left" else "left").address
    nets = s.peer(side).subnet, s.peer("right" if side == "left" else "left").subnet
    psk = s.psk_of(side).encode()
    if impl == "libreswan":
        conf, secrets = ipsec_conf(files["ipsec.conf"]), ipsec_secrets(files["ipsec.secrets"])
        params = dict(conf[1][1])
        assert (params["left"], params["right"]) == (me, other)
        assert (params.get("leftsubnet"), params.get("rightsubnet")) == nets
        mine, theirs = s.identity(side), s.identity("right" if side == "left" else "left")
        index = [mine.value, theirs.value] if mine.kind == theirs.kind == "address" else \
            ["%any", "%any"] if "dn" in (mine.kind, theirs.kind) else [mine.text, theirs.text]
        assert secrets == [(index, "PSK", psk)]
        assert (params["leftid"], params["rightid"]) == tuple(
            f'"{i.value}"' if i.kind == "dn" else i.text for i in (mine, theirs))
        return [(name, [k for k, _ in kv]) for name, kv in conf]
    if impl == "strongswan":
        daemon, swanctl = strongswan_conf(files["strongswan.conf"]), strongswan_conf(files["swanctl.conf"])
        secret = swanctl["secrets"]["ike-lab"]
        assert swanctl_secret(secret["secret"]) == psk
        mine, theirs = (s.identity(x).text for x in (side, "right" if side == "left" else "left"))
        ids = [v for k, v in secret.items() if k.startswith("id-")]
        assert ids == list(dict.fromkeys([mine, theirs, me, other]))
        assert (swanctl["connections"]["lab"]["local"]["id"],
                swanctl["connections"]["lab"]["remote"]["id"]) == (mine, theirs)
        for key in [k for k in secret if k.startswith("id-")]:  # their number follows the ids
            del secret[key]
        conn = swanctl["connections"]["lab"]
        assert (conn["local_addrs"], conn["remote_addrs"]) == (me, other)
        child = conn["children"]["lab"]
        assert (child.get("local_ts"), child.get("remote_ts")) == nets
        assert daemon["charon"]["filelog"]["lab"]["path"] == str(ctx.home / "charon.log")
        return key_paths(daemon), key_paths(swanctl)
    conf = racoon_statements(files["racoon.conf"])
    ids = {t[0]: t for _, t in conf if t[0] in ("my_identifier", "peers_identifier")}
    for key, who in (("my_identifier", side), ("peers_identifier", "right" if side == "left" else "left")):
        if key in ids:  # written as the driver spells it, each one statement
            assert ids[key] == (key, *racoon_tokens(racoon_identifier(s.identity(who))), ";")
    conf = [(d, t) for d, t in conf if not t[0].endswith("_identifier")]
    assert (0, ("path", "pre_shared_key", f'"{ctx.home}/psk.txt"', ";")) in conf
    assert (0, ("remote", other, "{")) in conf
    assert racoon_psk(files["psk.txt"]) == [(other, psk)]
    setkey = racoon_statements(files["setkey.conf"])
    if s.topology == "net-to-net":
        assert (0, ("sainfo", "address", nets[0], "any", "address", nets[1], "any", "{")) in conf
        return ([(d, t[0], len(t)) for d, t in conf], [(d, t[0], len(t)) for d, t in setkey])
    assert [t for _, t in setkey if t[0] == "spdadd" and "ipsec" in t] == [
        ("spdadd", s.left.address, s.right.address, "any", "-P", "out" if side == "left" else "in",
         "ipsec", "esp/transport//require", ";"),
        ("spdadd", s.right.address, s.left.address, "any", "-P", "in" if side == "left" else "out",
         "ipsec", "esp/transport//require", ";")]
    return ([(d, t[0], len(t)) for d, t in conf], [(d, t[0], len(t)) for d, t in setkey])


BASELINE: dict[tuple[str, str, str], object] = {}


def baseline(impl: str, side: str, topology: str) -> object:
    if (impl, side, topology) not in BASELINE:
        s, rundir = build(impl, "left.subnet" if topology == "net-to-net" else "name",
                          "2001:db8:11::/64" if topology == "net-to-net" else "injection")
        files, ctx = render(s, side, rundir)
        BASELINE[(impl, side, topology)] = statements(impl, files, s, side, ctx)
    return BASELINE[(impl, side, topology)]


def check(impl: str, field: str, value: str) -> bool:
    """Refused in one line, or rendered with the baseline's statements. True if accepted."""
    try:
        s, rundir = build(impl, field, value)
        rendered = [(side, *render(s, side, rundir)) for side in SIDES]
    except (ScenarioError, UsageError) as exc:
        text = str(exc)
        assert text and "\n" not in text and "\r" not in text, repr(text)
        assert ": " in text and "allowed" in text, text  # names the field and what is allowed
        return False
    for side, files, ctx in rendered:
        assert statements(impl, files, s, side, ctx) == baseline(impl, side, s.topology), \
            (field, value)
    return True


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("field", "template"), FIELDS, ids=[f"{f}={t}" for f, t in FIELDS])
def test_injection_attempts(impl: str, field: str, template: str) -> None:
    accepted = [v for v in NASTY if check(impl, field, fill(template, impl, v))]
    if template not in ("", "lab-"):
        return
    if field in ("psk", "left.psk", "right.psk"):
        # every printable PSK goes through, encoded: quotes, '#', '%', backslash, 0s/0x
        assert {'"', "%", "\\", "#", "{", "}", ";", "a\\b", "0sFpZ\"#%\\x", "0x41", "é"} <= set(accepted)
    if field == "name":
        assert not {"\n", '"', "\\", "#", "{", "}", ";", "%"} & set(accepted)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(impl=st.sampled_from(IMPLS), where=st.sampled_from(FIELDS), text=TEXT)
def test_arbitrary_text_in_any_string_field(impl: str, where: tuple[str, str], text: str) -> None:
    field, template = where
    check(impl, field, fill(template, impl, text))


PRINTABLE = st.text(st.characters(categories=("L", "M", "N", "P", "S")) | st.just(" "),
                    min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(impl=st.sampled_from(IMPLS), psk=PRINTABLE)
def test_every_printable_psk_arrives_byte_for_byte(impl: str, psk: str) -> None:
    if len(psk.encode()) > PSK_MAX_BYTES:
        return
    assert check(impl, "psk", psk), psk


@settings(max_examples=100, deadline=None)
@given(impl=st.sampled_from(IMPLS), name=st.text(NAME_CHARS, min_size=1, max_size=200))
def test_every_name_of_the_safe_alphabet_is_taken(impl: str, name: str) -> None:
    assert check(impl, "name", name), name


# -- native lines: the escape hatch adds its own statement at its place, and nothing else --
NATIVE_PLACES = [("libreswan", "setup", "config setup"), ("libreswan", "conn", "conn lab"),
                 ("strongswan", "charon", "charon."), ("strongswan", "connection", "connections.lab."),
                 ("strongswan", "child", "connections.lab.children.lab."),
                 ("racoon", "remote", "remote"), ("racoon", "sainfo", "sainfo")]
NATIVE_TEXT = st.one_of(
    st.sampled_from(['a = "x', 'a = "x" #"', "x { #}", "a { b = c }", "} evil {", "x \"a;", "x;",
                     "lifetime time 1 hour", 'mode = "tunnel', "fragmentation=yes", "a=\"b c\"",
                     "a = b # c", "dpd_delay = 30s", "a { b { c = d } }", "x { y; };", "z \"}\";"]),
    st.text(alphabet="ab =;{}\"#\\\n", max_size=20), st.text(max_size=20),
    # strongSwan's include pattern has its own escapes (\\# \\} \\" and '\\ ')
    st.builds("include {}".format, st.text(alphabet="ab ={}\"#\\", max_size=30)),
    st.just("include /dev/null\\# } } } evil { remote_addrs = 192.0.2.66 } } secrets { x = 1 }"
            " connections { lab { children { lab {"))


def native_statements(impl: str, files: dict[str, str], where: str) -> tuple[object, object]:
    """(everything but the native place's own statements, the native statements)."""
    if impl == "libreswan":
        conf = ipsec_conf(files["ipsec.conf"])
        return [(n, [k for k, _ in kv]) for n, kv in conf if n != where], \
            [kv for n, kv in conf if n == where]
    if impl == "strongswan":
        tree = strongswan_conf(files["strongswan.conf"] + files["swanctl.conf"].replace(
            "connections {", "connections {", 1))
        paths = key_paths(tree)
        return [p for p in paths if not p.startswith(where)], [p for p in paths if p.startswith(where)]
    conf = racoon_statements(files["racoon.conf"])
    return [(d, t[0], len(t)) for d, t in conf if d == 0], [(d, t) for d, t in conf if d > 0]


def _inside(section: str, line: str) -> str:
    """The line alone, inside the sections of its place (``connections.lab.``)."""
    names = section.rstrip(".").split(".")
    return "".join(f"{n} {{\n" for n in names) + line + "\n" + "}\n" * len(names)


@settings(max_examples=300, deadline=None)
@given(where=st.sampled_from(NATIVE_PLACES), line=NATIVE_TEXT)
def test_a_native_line_is_one_statement_at_its_place(where: tuple[str, str, str], line: str) -> None:
    impl, place, section = where
    try:
        s, rundir = build(impl, "name", "native")
        s = s.with_(left=Peer(LEFT, impl, native=(NativeLines(impl, place, (line,)),)))
    except ScenarioError as exc:
        assert "\n" not in str(exc) and "allowed" in str(exc), str(exc)
        return
    files, _ = render(s, "left", rundir)
    plain, _ = render(build(impl, "name", "native")[0], "left", rundir)
    try:
        alone = {"libreswan": lambda: ipsec_conf(f"conn x\n\t{line}\n"),
                 "strongswan": lambda: strongswan_conf(_inside(section, line)),
                 "racoon": lambda: racoon_statements(line)}[impl]()
    except SyntaxError:
        return  # malformed on its own (the daemon refuses it); the reach is tested below
    with_native, native = native_statements(impl, files, section)
    without, lab = native_statements(impl, plain, section)
    assert with_native == without, line  # nothing outside the native line's place changed
    if impl == "libreswan":
        assert [k for k, _ in native[0]][-len(alone[0][1]):] == [k for k, _ in alone[0][1]]
    elif impl == "strongswan":
        assert set(native) - set(lab) <= set(key_paths(alone)), line
    else:
        added = [t for t in native if t not in [(d, t) for d, t in racoon_statements(
            plain["racoon.conf"]) if d > 0]]
        assert [t for _, t in added] == [t for _, t in alone] * (2 if place == "sainfo" else 1), line


@pytest.mark.parametrize(("impl", "place", "line", "words"), [
    ("strongswan", "child", 'mode = "tunnel', "leaves a '\"' open"),  # would run on
    ("strongswan", "connection", "x { #}", "unbalanced braces"),  # the '}' is a comment
    ("racoon", "remote", 'x "a;', "leaves a '\"' open"),
    ("racoon", "sainfo", "lifetime time 1 hour", "does not end its statement"),  # joins the next
    ("libreswan", "conn", 'leftid="a', "leaves a '\"' open"),
])
def test_native_lines_that_would_reach_beyond_their_line(impl: str, place: str, line: str,
                                                         words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        Scenario("n", Peer(LEFT, impl, native=(NativeLines(impl, place, (line,)),)), Peer(RIGHT, impl))
    assert "\n" not in str(exc.value) and words in str(exc.value) and "allowed" in str(exc.value)
