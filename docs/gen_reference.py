"""Write the generated pages of the docs from the code's own definitions.

- docs/reference/scenario-keys.md: every key the scenario loader accepts (top level, per
  peer, in [path] and in [SIDE.native.DAEMON]), its type, default and allowed values, read
  from lab/scenario/, lab/topology/path.py and lab/native.py; and the keys of a scenario
  with nodes and connections (lab/peers.py);
- docs/findings.md: scenarios/known-incompatibilities.toml as a table;
- docs/upstream.md: the upstream suite (scenarios/upstream/*.toml), each case with its origin.

``python docs/gen_reference.py`` writes them; ``--check`` exits 1 if a page on disk differs
from what would be written (tests/test_docs_reference.py runs the same check). A key the
loader accepts without a description here is an error, so a new key cannot go undocumented.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab import blocked, expected, peers  # noqa: E402
from lab import origin as originmod  # noqa: E402
from lab import scenario as sc  # noqa: E402
from lab.algorithms import CIPHERS, DEFAULT, DH_GROUPS, INTEGRITY  # noqa: E402
from lab.flavors import IMPLEMENTATIONS, PROVISIONS, SUITES  # noqa: E402
from lab.identity import DN_ATTRIBUTES  # noqa: E402
from lab.native import PLACES  # noqa: E402
from lab.topology import path as pathmod  # noqa: E402
from lab.topology.table import TOPOLOGIES  # noqa: E402

SCENARIO_PAGE = ROOT / "docs" / "reference" / "scenario-keys.md"
FINDINGS_PAGE = ROOT / "docs" / "findings.md"
KNOWN = ROOT / "scenarios" / "known-incompatibilities.toml"
UPSTREAM_PAGE = ROOT / "docs" / "upstream.md"
UPSTREAM = ROOT / "scenarios" / "upstream"


def _codes(values: Any) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _range(low: int, high: int, unit: str = "") -> str:
    return f"{low}..{high}{unit}"


PROPOSAL = (f"a proposal string `cipher-integrity[-prfX]-group` (ESP: group optional, the PFS"
            f" group), a list of them in order of preference, or `\"{DEFAULT}\"` (the daemons'"
            f" defaults). Ciphers: {_codes(CIPHERS)}; integrity: {_codes(INTEGRITY)};"
            f" groups: {_codes(DH_GROUPS)}")
FLAVOR = (f"{_codes(IMPLEMENTATIONS)} alone (the machine's own programs), `NAME@SUITE` with"
          f" SUITE one of {_codes(SUITES)} (a Debian tree, `ipsec-lab setup`),"
          + "".join(f" `{p.daemon}@RELEASE` with RELEASE one of {_codes(p.releases)} or"
                    f" {_codes(p.variants)} (built by `ipsec-lab setup`),"
                    for p in PROVISIONS.values() if p.from_source)
          + " or `NAME@/path` (a tree or prefix you point at)")
LIFETIME = _range(*sc.LIFETIME_RANGE, " seconds")

#: top-level keys: allowed values and what the key does
TOP: dict[str, tuple[str, str]] = {
    "name": (f"1 to {sc.NAME_MAX} of letters, digits, space and `{sc.NAME_CHARS[62:].strip()}`",
             "the scenario's name (reaches only comments and headers); default: the file's name"),
    "left": ("a table (keys below)", "the left peer; it initiates unless `initiator` says otherwise"),
    "right": ("a table (keys below)", "the right peer"),
    "ike_version": (_codes(sc.IKE_VERSIONS) + " (a number; `true` is not one)", "IKE version"),
    "mode": (_codes(sc.MODES), "IPsec mode of the Child SA"),
    "psk": (f"printable text, 1 to {sc.PSK_MAX_BYTES} bytes in UTF-8",
            "the pre-shared key (reaches every daemon as hex, byte for byte)"),
    "ike": (PROPOSAL + "; IKE proposals need a group", "IKE SA proposal(s)"),
    "esp": (PROPOSAL, "ESP (Child SA) proposal(s)"),
    "responder_esp": ("one proposal string",
                      "a different ESP proposal for the responder (to make it refuse)"),
    "ike_lifetime": (LIFETIME, "IKE SA lifetime"),
    "child_lifetime": (LIFETIME, "Child SA lifetime"),
    "initiator": (_codes(sc.SIDES), "which side initiates"),
    "pings": (_range(*sc.PINGS_RANGE), "echo requests sent through the SAs"),
    "ping_size": (_range(*sc.PING_SIZE_RANGE, " bytes"),
                  "the echo requests' data bytes, as ping -s (default: the lab's 15)"),
    "esp_length": (_range(*sc.ESP_LENGTH_RANGE, " bytes"),
                   "the length every ESP packet of the pings must have on the wire, ESP header"
                   " to ICV (tcpdump's `ESP ... length N`)"),
    "fault": (_codes(sc.FAULTS), "a cell broken on purpose, to prove the lab reports the cause"),
    "expect": (_codes(sc.EXPECTS), "how the negotiation must end"),
    "topology": (_codes(TOPOLOGIES), "the layout of namespaces (see Topologies and peers)"),
    "auth": (_codes(sc.AUTHS), "a pre-shared key, or certificates the lab makes per run"),
    "path": ("a table (keys below)", "what the router between the peers does (topologies with a router)"),
    "fragmentation": (_codes(sc.FRAGMENTATIONS), "IKE fragmentation: each daemon's default, on or off"),
    "encapsulation": (_codes(sc.ENCAPSULATIONS), "ESP in UDP: where a NAT is detected, or always"),
    "lifecycle": (_codes(sc.LIFECYCLES), "the event after the first SA (lifecycle cells)"),
    "actor": (_codes(sc.ACTORS), "who rekeys, is killed or vanishes"),
    "rekey_by": (_codes(sc.REKEY_BY), "what starts a rekey"),
    "rekey_margin": (_range(*sc.MARGIN_RANGE, " seconds"),
                     "seconds before a lifetime ends that a rekey starts"),
    "rekey_fuzz": (_range(*sc.FUZZ_RANGE, " percent"), "random part of the margin"),
    "dpd_delay": (_range(*sc.DPD_RANGE, " seconds"), "seconds between dead peer detection checks"),
    "dpd_timeout": (_range(*sc.DPD_RANGE, " seconds"),
                    "seconds without an answer until the peer is dead (default 3 x delay)"),
    "dpd_action": (_codes(sc.DPD_ACTIONS), "what a side does once DPD finds the peer dead"),
    "vanish": (_codes(sc.VANISH),
               "how a `dpd` cell's actor vanishes: its daemon stops, or its link goes down"),
    "fail_on_retransmit": ("`true` or `false` (default)",
                           "any IKE packet a daemon sends again fails a first-SA cell"),
    "must_not_pass": (f"1 to {blocked.PROBES_MAX} tables `[[must_not_pass]]` (keys below);"
                      " with `expect = \"established\"` and no lifecycle",
                      "probes that must get no echo reply and leave nothing in clear"),
    "origin": ("a table (keys below)",
               "the upstream case the scenario translates (metadata: reaches no daemon)"),
    "negotiated": ("a table (keys below); only with `expect = \"established\"`",
                   "what the negotiation must end with, whatever the proposals"),
}

#: [[must_not_pass]] keys
PROBE: dict[str, tuple[str, str]] = {
    "from": (f"a node ({_codes(blocked.NODES)}, those the topology has) or an address one of"
             " them holds", "where the probe starts (a host: its address; a gateway: the"
             " kernel chooses, unless an address is given)"),
    "to": ("a unicast address of the same family, or a node", "where the echo request goes"),
    "unreachable": ("`true` or `false` (default)",
                    "an ICMP destination unreachable quoting the probe must come back"),
}

#: [origin] keys
ORIGIN: dict[str, tuple[str, str]] = {
    "project": (_codes(originmod.PROJECTS), "whose test suite the case is from"),
    "path": (", ".join(f"{p}: `{t}CASE`" for p, t in originmod.TREES.items()),
             "the case's directory in that project's tree"),
    "commit": ("40 lower-case hex digits", "the commit the case was read at"),
    "checks": (f"a list of at least one line, each 1 to {originmod.LINE_MAX} characters",
               "what the original checks, in your own words"),
    "not_checked": (f"a list of lines, each 1 to {originmod.LINE_MAX} characters (default none)",
                    "what the original checks that the lab cannot check yet"),
}

#: [negotiated] keys
NEGOTIATED: dict[str, tuple[str, str]] = {
    "ike": ("one IKE proposal `cipher-integrity[-prfX]-group` (not a list, not `default`)",
            "the IKE SA's cipher, integrity, PRF and group, checked in both daemons' reports"),
    "esp": ("one ESP proposal `cipher[-integrity][-group]` (not a list, not `default`)",
            "the Child SA's algorithms in both kernels and daemons; its group is the PFS group"
            " of rekeyed Child SAs, no group: no PFS"),
    "esn": ("`true`, `false`", "extended sequence numbers on the ESP SAs, in both kernels"),
}

#: per-peer keys ([left] and [right])
PEER: dict[str, tuple[str, str]] = {
    "address": ("a unicast IPv6 address (global or unique-local, no `%scope`) or an IPv4 unicast"
                " address; no multicast, loopback, link-local, unspecified, IPv4-mapped, site-local"
                " or reserved address; both sides the same family, two different addresses",
                "the peer's address on the link (required)"),
    "flavor": (FLAVOR, "where the peer's daemon comes from"),
    "prefixlen": (f"{_range(*sc.PREFIXLEN_RANGE)} (at most 32 for IPv4); default 64, 24 for IPv4",
                  "prefix length of the address"),
    "psk": (f"printable text, 1 to {sc.PSK_MAX_BYTES} bytes in UTF-8",
            "this side's own key (to break things)"),
    "mode": (_codes(sc.MODES), "this side's own mode (to break things)"),
    "ike_version": (_codes(sc.IKE_VERSIONS), "this side's own IKE version (to break things)"),
    "ike": (PROPOSAL + "; IKE proposals need a group", "this side's own IKE proposal(s)"),
    "esp": (PROPOSAL, "this side's own ESP proposal(s)"),
    "subnet": ("a network such as `10.1.0.0/24` or `2001:db8:11::/64`",
               "the network behind this gateway (net-to-net topologies; required there)"),
    "id": (f"an address, `@fqdn`, a user FQDN `user@example.org`, or a DN with {_codes(DN_ATTRIBUTES)}",
           "the IKE identity; default: the address"),
    "native": ("a table `[SIDE.native.DAEMON]` of places, each a list of lines (below)",
               "lines in the daemon's own syntax (the escape hatch)"),
    "ike_lifetime": (LIFETIME, "this side's own IKE SA lifetime"),
    "child_lifetime": (LIFETIME, "this side's own Child SA lifetime"),
    "log_must": ("a list of Python regular expressions (compiled when the file is read)",
                 "each must match a line of this side's daemon log"),
    "log_must_not": ("a list of Python regular expressions (compiled when the file is read)",
                     "none may match a line of this side's daemon log"),
}

#: [path] keys
PATH: dict[str, tuple[str, str]] = {
    "loss": ("0..100 percent", "packets dropped, each direction"),
    "delay": (_range(0, pathmod.DELAY_MAX_MS, " ms"), "delay, each direction"),
    "jitter": ("0..delay ms", "+- around delay (netem reorders what jitter overtakes)"),
    "reorder": ("0..100 percent, needs a delay", "packets sent at once, ahead of the delayed ones"),
    "duplicate": ("0..100 percent", "packets sent twice"),
    "rate": (_range(*pathmod.RATE_RANGE_KBIT, " kbit/s") + ", or 0 for the link's own",
             "rate, each direction"),
    "mtu": (f"IPv4 {_range(*pathmod.MTU_RANGE[4])}, IPv6 {_range(*pathmod.MTU_RANGE[6])} bytes,"
            " or 0 for 1500", "MTU of every link"),
    "drop_ike": (_range(0, pathmod.DROP_IKE_MAX, " packets") + "; not with netem settings",
                 "drop the first N IKE packets that `drop_from` sends"),
    "drop_from": (_codes(pathmod.DROP_FROM), "whose IKE packets `drop_ike` drops"),
    "nat": ("`true`, `false`; IPv4 and tunnel mode only", "one-to-one NAT of the initiator on the router"),
    "drop_fragments": ("`true`, `false`", "the router drops IP fragments"),
}


#: keys whose dataclass field has another name (a Python keyword)
FIELD_NAMES = {"from": "src", "to": "dst"}


def _type(cls: type, name: str) -> str:
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    text = str(hints.get(FIELD_NAMES.get(name, name), "table"))
    text = text.replace("Proposal | Proposals", "proposal or list")
    text = text.replace("tuple[blocked.Probe, ...]", "list of tables").replace("Origin", "table")
    text = text.replace("Stated", "table")
    return text.replace(" | None", "").replace("PathSpec", "table").replace("Native", "table")


def _default(cls: type, name: str) -> str:
    name = FIELD_NAMES.get(name, name)
    for f in dataclasses.fields(cls):
        if f.name != name:
            continue
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            return "required"
        if value is None or value == ():
            return "-"
        if isinstance(value, pathmod.PathSpec):
            return "untouched"
        if isinstance(value, expected.Stated):
            return "not stated"
        return f"`{value}`"
    return "required"


def _table(keys: Any, cls: type, described: dict[str, tuple[str, str]], where: str) -> list[str]:
    missing = sorted(set(keys) - set(described))
    if missing:
        raise SystemExit(f"gen_reference.py: {where} keys the loader accepts but this script does"
                         f" not describe: {', '.join(missing)}")
    extra = sorted(set(described) - set(keys))
    if extra:
        raise SystemExit(f"gen_reference.py: {where} keys described but not accepted: {', '.join(extra)}")
    rows = ["| key | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for key in sorted(keys):
        allowed, meaning = described[key]
        rows.append(f"| `{key}` | {_type(cls, key)} | {_default(cls, key)} | {allowed} | {meaning} |")
    return rows


def scenario_page() -> str:
    lines = [
        "# Scenario keys",
        "",
        "<!-- generated by docs/gen_reference.py from lab/scenario/, lab/topology/path.py and",
        "     lab/native.py: do not edit; run .venv/bin/python docs/gen_reference.py -->",
        "",
        "Every key the scenario loader (`lab.scenario.load_scenario`) accepts. An unknown key, or a",
        "value outside what is allowed, is refused in one line naming the file, the key, the value",
        "and what is allowed. Defaults are those of the `Scenario`, `Peer` and `PathSpec`",
        "dataclasses; `-` means none (the scenario's own value, or the daemon's).",
        "",
        "## Top level",
        "",
        *_table(sc.TOP_KEYS, sc.Scenario, TOP, "top-level"),
        "",
        "## `[left]` and `[right]`",
        "",
        *_table(sc.PEER_KEYS, sc.Peer, PEER, "per-peer"),
        "",
        "## `[path]`",
        "",
        *_table(pathmod.PATH_KEYS, pathmod.PathSpec, PATH, "[path]"),
        "",
        "## `[[must_not_pass]]`",
        "",
        *_table(blocked.KEYS, blocked.Probe, PROBE, "[[must_not_pass]]"),
        "",
        "## `[origin]`",
        "",
        *_table(originmod.KEYS, originmod.Origin, ORIGIN, "[origin]"),
        "",
        "## `[negotiated]`",
        "",
        "Each key may be absent (not stated). With `default` proposals and no `[negotiated]`,",
        "the lab works out the result from what each daemon says it offers.",
        "",
        *_table(expected.KEYS, expected.Stated, NEGOTIATED, "[negotiated]"),
        "",
        "## `[left.native.DAEMON]` and `[right.native.DAEMON]`",
        "",
        "Each place is a list of lines in the daemon's own syntax; lines for a daemon the side",
        "does not run are ignored.",
        "",
        "| daemon | place | where the lines go |",
        "| --- | --- | --- |",
    ]
    for daemon, places in PLACES.items():
        for place, where in places.items():
            lines.append(f"| `{daemon}` | `{place}` | {where} |")
    return "\n".join(lines + network_section()) + "\n"


def network_section() -> list[str]:
    """A scenario with nodes and connections (lab.peers): the loader refuses any key that
    is not in these tables, so the tables are the whole list."""
    lines = [
        "",
        "## Scenarios with nodes (`[nodes.NAME]`, `[[connections]]`)",
        "",
        "A file with `nodes` or `connections` is a scenario of more than two peers (lab.peers;",
        "[Road warriors](../road-warrior.md)). Proposals, flavors, addresses, identities and",
        "PSKs take the values the two-peer keys above allow.",
    ]
    for title, keys in (("Top level", peers.TOP_KEYS), ("`[nodes.NAME]`", peers.NODE_KEYS),
                        ("`[[connections]]`", peers.CONN_KEYS)):
        lines += ["", f"### {title}", "", "| key | meaning |", "| --- | --- |"]
        lines += [f"| `{key}` | {meaning} |" for key, meaning in keys.items()]
    return lines


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    text = " ".join(str(value).replace("\\\n", "").split())
    return text.replace("|", "\\|").replace("*", "\\*")


def _end(end: dict[str, Any]) -> str:
    """One end of an entry: its flavors, and the version prefixes if it names any."""
    text = ", ".join(f"`{f}`" for f in end.get("flavors", []))
    if end.get("versions"):
        text += " (versions " + ", ".join(f"`{v}`" for v in end["versions"]) + ")"
    return text


def findings_page() -> str:
    data = tomllib.loads(KNOWN.read_text())
    entries = data.get("incompatibility", [])
    lines = [
        "# Findings",
        "",
        "<!-- generated by docs/gen_reference.py from scenarios/known-incompatibilities.toml:",
        "     do not edit; run .venv/bin/python docs/gen_reference.py -->",
        "",
        "What the lab measured between the daemons and keeps as known incompatibilities: a",
        "matching cell is an expected failure with this reason, and a pass of it fails loudly",
        "(`XPASS: known incompatibility ... is GONE`). How the file is read:",
        "[Scenarios: known incompatibilities](scenarios.md#known-incompatibilities); the",
        "lifecycle findings in their context: [Lifecycle](lifecycle.md).",
        "",
        f"{len(entries)} entries.",
        "",
        "| id | ends | settings | what goes wrong | workaround |",
        "| --- | --- | --- | --- | --- |",
    ]
    ends_keys = ("one", "other")
    skip = {"id", "what", "workaround", "reference", "fails_with", *ends_keys}
    for e in entries:
        ends = " / ".join(_end(e[k]) for k in ends_keys if k in e)
        settings = "; ".join(f"{k}: {_cell(v)}" for k, v in e.items() if k not in skip)
        lines.append(f"| `{_cell(e.get('id'))}` | {ends} | {settings} | {_cell(e.get('what'))}"
                     f" | {_cell(e.get('workaround'))} |")
    return "\n".join(lines) + "\n"


#: where each project's tree can be browsed at a commit
BROWSE = {"strongswan": "https://github.com/strongswan/strongswan/tree/{commit}/{path}",
          "libreswan": "https://github.com/libreswan/libreswan/tree/{commit}/{path}"}


def upstream_page() -> str:
    """The upstream suite: each scenario file with its origin, read through the loader."""
    cases = [peers.load_case(path) for path in sorted(UPSTREAM.glob("*.toml"))]
    files = [path.name for path in sorted(UPSTREAM.glob("*.toml"))]
    missing = sum(len(s.origin.not_checked) for s in cases if s.origin)
    full = sum(1 for s in cases if s.origin and not s.origin.not_checked)
    lines = [
        "# The upstream suite",
        "",
        "<!-- generated by docs/gen_reference.py from scenarios/upstream/*.toml:",
        "     do not edit; run .venv/bin/python docs/gen_reference.py -->",
        "",
        "Cases of strongSwan's `testing/tests` and Libreswan's `testing/pluto`, each translated",
        "into a scenario file in `scenarios/upstream/` whose `[origin]` table names the case, the",
        "commit it was read at, what the original checks and what of that the lab cannot check",
        "yet (`not_checked`). `pytest scenarios/ -k upstream` runs them",
        "(`scenarios/test_upstream.py`, ids `test_upstream[FILE]`); the run ends with the count",
        "of lines not checked yet. A file with `[nodes.NAME]` and `[[connections]]` runs as a",
        "network cell ([Road warriors](road-warrior.md)), the others as two-peer cells.",
        "The keys: [Scenario keys](reference/scenario-keys.md#origin).",
        "",
        f"{len(cases)} cases, {full} of them fully expressed; {missing} line(s) not checked yet.",
        "",
        "| file | origin | what the original checks | not checked yet |",
        "| --- | --- | --- | --- |",
    ]
    for name, s in zip(files, cases, strict=True):
        o = s.origin
        if o is None:
            raise SystemExit(f"gen_reference.py: scenarios/upstream/{name} has no [origin]")
        url = BROWSE[o.project].format(commit=o.commit, path=o.path)
        lines.append(f"| `{name}` | [{o.project} {o.path}]({url}) at `{o.commit[:12]}`"
                     f" | {'; '.join(_cell(c) for c in o.checks)}"
                     f" | {'; '.join(_cell(c) for c in o.not_checked) or 'nothing'} |")
    return "\n".join(lines) + "\n"


PAGES = {SCENARIO_PAGE: scenario_page, FINDINGS_PAGE: findings_page, UPSTREAM_PAGE: upstream_page}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    args = parser.parse_args(argv)
    stale = []
    for page, make in PAGES.items():
        text = make()
        if args.check:
            if not page.exists() or page.read_text() != text:
                stale.append(page.relative_to(ROOT))
        else:
            page.write_text(text)
    if stale:
        print(f"stale: {', '.join(map(str, stale))} (run .venv/bin/python docs/gen_reference.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
