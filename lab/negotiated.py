"""What was negotiated, proved: both kernels hold the same ESP SAs, and those SAs and
the daemons' own accounts of their IKE SA match what each side was configured with.

Pure: fed by the kernels' SAs (lab.xfrm) and each daemon's status (lab.status), so
tests feed it recorded outputs. Every finding is a Problem with a kind; a caller that
expects a mode mismatch asks ``only_mode_mismatch(problems)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lab.identity import Identity
from lab.offers import show_offers
from lab.proposals import Want, offers_of, wanted
from lab.sa_words import (
    CIPHER,
    INTEGRITY,
    WIRE_INTEGRITY,
    Side,
    between,
    esp_detail,
    esp_name,
    expected_detail,
    key_bits,
    listing,
)
from lab.scenario import SIDES, Scenario
from lab.status import ChildStatus, DaemonStatus, same_id
from lab.xfrm import SA

__all__ = ["CIPHER", "INTEGRITY", "Negotiated", "Problem", "Side", "agreement", "between",
           "check", "esp_detail", "esp_name", "only_mode_mismatch"]

KINDS = ("agreement", "mode", "esp", "ike", "pfs", "identity", "status", "teardown")


@dataclass(frozen=True)
class Problem:
    """One finding: ``kind`` is one of KINDS, ``text`` the one line that says it."""

    kind: str
    text: str

    def __str__(self) -> str:
        return self.text


def only_mode_mismatch(problems: Iterable[Problem]) -> bool:
    """True when there are problems and every one of them is a mode mismatch."""
    kinds = {p.kind for p in problems}
    return kinds == {"mode"}


@dataclass
class Negotiated:
    problems: list[Problem]
    lines: list[str]  # the listing: per side, the IKE SA, the Child SA, identities




def _fields(sa: SA) -> dict[str, str]:
    """What two copies of one SA must have in common, by the name a finding uses. (The
    replay window and flags such as af-unspec are each kernel's own business: pluto
    gives its inbound SAs 128, charon 32.)"""
    out = {
        "direction": f"{sa.src} -> {sa.dst}",
        "protocol": sa.proto,
        "mode": sa.mode,
        "encryption algorithm": sa.enc[0] if sa.enc else "none",
        "encryption key": sa.enc[1] if sa.enc else "none",
        "integrity algorithm": sa.auth[0] if sa.auth else "none",
        "integrity key": sa.auth[1] if sa.auth else "none",
        "ICV length": f"{sa.auth[2]} bits" if sa.auth else "none",
        "AEAD algorithm": sa.aead[0] if sa.aead else "none",
        "AEAD key": sa.aead[1] if sa.aead else "none",
        "AEAD ICV length": f"{sa.aead[2]} bits" if sa.aead else "none",
        "ESN": "on" if sa.esn else "off",
        "UDP encapsulation": (f"ports {sa.encap_ports[0]} -> {sa.encap_ports[1]}"
                              if sa.encap_ports else "none"),
    }
    if sa.mode == "tunnel":
        out["tunnel endpoints"] = f"{sa.src} - {sa.dst}"
    return out


def agreement(sas: dict[str, list[SA]], sides: dict[str, Side]) -> list[Problem]:
    """Every ESP SA between the peers is in both kernels with the same parameters."""
    left, right = (sides[s] for s in SIDES)
    copies = {s.name: {sa.spi: sa for sa in between(sas.get(s.name, []), left.address,
                                                     right.address)} for s in (left, right)}
    problems = []
    for spi in sorted(set(copies[left.name]) | set(copies[right.name])):
        a, b = copies[left.name].get(spi), copies[right.name].get(spi)
        if a is None or b is None:
            held, lacks = (left, right) if b is None else (right, left)
            problems.append(Problem("agreement", f"spi 0x{spi:08x}: only in {held}'s kernel,"
                                    f" not in {lacks}'s"))
            continue
        fa, fb = _fields(a), _fields(b)
        for name in [*fa, *(n for n in fb if n not in fa)]:
            va, vb = fa.get(name, "none"), fb.get(name, "none")
            if va != vb:
                problems.append(Problem("agreement", f"spi 0x{spi:08x}: {name} differs:"
                                        f" {left} {va}, {right} {vb}"))
        if a.dir and b.dir and a.dir == b.dir:
            problems.append(Problem("agreement", f"spi 0x{spi:08x}: SA direction is the same"
                                    f" in both kernels: {left} {a.dir}, {right} {b.dir} (one"
                                    " copy must be in, the other out)"))
        # A selector-less SA (family unset) matches every packet: pluto and charon install
        # tunnel-mode SAs so (recorded). Only two real selectors must agree.
        if not a.sel.any and not b.sel.any and a.sel != b.sel:
            problems.append(Problem("agreement", f"spi 0x{spi:08x}: selectors differ:"
                                    f" {left} {a.sel}, {right} {b.sel}"))
    return problems


# -- 2. the SAs and the daemons' accounts match each side's scenario -------------------------


def _mode(scenario: Scenario, sas: dict[str, list[SA]], sides: dict[str, Side]) -> list[Problem]:
    parts, wrong = [], False
    for name in SIDES:
        side, other = sides[name], sides[_other(name)]
        # an SA with no algorithm is an SPI reserved for a negotiation still going on (charon
        # allocates one before its IKE_AUTH completes): it has a mode, but nobody chose it
        modes = sorted({sa.mode for sa in between(sas.get(name, []), side.address, other.address)
                        if sa.enc or sa.auth or sa.aead})
        configured = scenario.mode_of(name)
        wrong |= bool(modes) and modes != [configured]
        parts.append(f"{side} configured {configured}, negotiated {'/'.join(modes) or 'nothing'}")
    return [Problem("mode", "mode: " + "; ".join(parts))] if wrong else []


def _configured(w: Want) -> bool:
    """Whether findings say "configured" (the proposals decided) or "expected"."""
    return w.how in ("configured", "chosen")


def _esp(w: Want, held: list[SA], side: Side) -> list[Problem]:
    """One finding per side and kind of wrong SA, naming the SPIs."""
    esp = w.proposal
    if esp is None:  # nothing to compare with (the listing says why); agreement() still checks
        return []
    wrong: dict[str, list[int]] = {}
    for sa in held:
        want = CIPHER[esp.cipher]
        if esp.aead:
            ok = sa.aead is not None and (sa.aead[0], key_bits(sa.aead[1]), sa.aead[2]) == want
            ok = ok and sa.enc is None and sa.auth is None
        else:
            ialg, ibits = INTEGRITY.get(esp.integrity or "", ("?", 0))
            ibits = side.icv_bits.get(esp.integrity or "", ibits)
            ok = (sa.aead is None and sa.enc is not None and sa.auth is not None
                  and (sa.enc[0], key_bits(sa.enc[1])) == want[:2]
                  and (sa.auth[0], sa.auth[2]) == (ialg, ibits))
        if not ok:
            wrong.setdefault(f"{esp_name(sa)} ({esp_detail(sa)})", []).append(sa.spi)
    detail = expected_detail(esp.cipher, esp.integrity, side.icv_bits)
    out = []
    for what, spis in wrong.items():
        named = f"{'spi' if len(spis) == 1 else 'spis'} {', '.join(f'0x{s:08x}' for s in spis)}"
        if _configured(w):
            out.append(Problem("esp", f"esp: {side} configured {esp} ({detail}); {named} in its"
                                      f" kernel {'is' if len(spis) == 1 else 'are'} {what}"))
        else:
            out.append(Problem("esp", f"esp: negotiated ESP {what}, expected {esp} ({detail})"
                                      f" ({side}'s kernel, {named}; {w.note})"))
    return out


def _esn(w: Want, held: list[SA], side: Side) -> list[Problem]:
    """Extended sequence numbers on every SA, where the result is stated or worked out."""
    if w.esn is None:
        return []
    wrong = [sa.spi for sa in held if sa.esn != w.esn]
    if not wrong:
        return []
    words = {True: "on", False: "off"}
    return [Problem("esp", f"esp: negotiated ESN {words[not w.esn]}, expected {words[w.esn]}"
                           f" ({side}'s kernel, {_spis(set(wrong))}; {w.note})")]


def _ike(w: Want, st: DaemonStatus, side: Side) -> list[Problem]:
    ike = w.proposal
    if st.ike is None or ike is None:
        return []
    expected = {"cipher": ike.cipher, "integrity": "none" if ike.aead else ike.integrity,
                "prf": ike.effective_prf, "group": ike.dh}
    reported = {"cipher": st.ike.cipher, "integrity": st.ike.integrity, "prf": st.ike.prf,
                "group": st.ike.dh}
    wrong = [k for k in expected if reported[k] is not None and expected[k] is not None
             and not _same_algorithm(reported[k], expected[k], k)]  # type: ignore[arg-type]
    if not wrong:
        return []
    if _configured(w):
        return [Problem("ike", f"ike: {side} configured {ike}; {st.source} reports " + ", ".join(
            f"{k} {reported[k]} (configured {expected[k]})" for k in wrong))]
    return [Problem("ike", "ike: " + ", ".join(f"negotiated IKE {k} {reported[k]}, expected"
                                               f" {expected[k]}" for k in wrong)
                    + f" ({side}, {st.source}; {w.note})")]


#: ciphers a daemon may name without their key length (racoon 0.9's status: "AES-CBC")
CIPHER_FAMILIES = ("aes",)


def _same_algorithm(reported: str, expected: str, what: str) -> bool:
    """Equal; or, for a cipher, a family name without key length (``aes``) whose family
    the expected cipher is, with a key length (``aes256``; not ``aes128gcm16``)."""
    if reported == expected:
        return True
    rest = expected.removeprefix(reported)
    return what == "cipher" and reported in CIPHER_FAMILIES and rest != expected \
        and rest.isdigit()


def _identities(scenario: Scenario, st: DaemonStatus, side: Side, other: Side) -> list[Problem]:
    """Each side's identity is the scenario's ``id`` (its address unless set)."""
    if st.ike is None:
        return []
    mine, theirs = scenario.identity(side.name), scenario.identity(other.name)
    problems = []
    if st.ike.remote_id is not None and not _same_identity(st.ike.remote_id, theirs):
        problems.append(Problem("identity", f"identity: {side} authenticated its peer as"
                                f" {st.ike.remote_id!r} ({st.source}), but {other} has the"
                                f" identity {theirs}"))
    if st.ike.local_id is not None and not _same_identity(st.ike.local_id, mine):
        problems.append(Problem("identity", f"identity: {side} used the local identity"
                                f" {st.ike.local_id!r} ({st.source}), configured {mine}"))
    return problems


def _same_identity(reported: str, identity: Identity) -> bool:
    """A daemon's words for an identity: an FQDN with or without '@', a DN with any
    blanks around its commas and equals signs."""
    if identity.kind == "address":
        return same_id(reported, identity.value)
    text = reported.strip().strip("'\"")
    if identity.kind == "fqdn":
        return text.lstrip("@") == identity.value
    if identity.kind == "dn":
        def squash(dn: str) -> str:
            return ",".join("=".join(x.strip() for x in part.split("=", 1))
                            for part in dn.split(","))
        return squash(text) == squash(identity.value)
    return text == identity.value


def _children(scenario: Scenario, w: Want, st: DaemonStatus, held: list[SA], side: Side,
              rekeyed: bool, own: list[SA]) -> list[Problem]:
    """The daemon's words on its last Child SA: algorithms, PFS group, SPIs and mode.
    ``rekeyed``: that Child SA replaced another, so IKEv2's first-Child exception is off."""
    esp = w.proposal
    problems: list[Problem] = []
    if esp is None:
        return problems
    # the daemon's Child SA against everything its own kernel holds (``own``: more than
    # ``held`` where a lifecycle cell proves only some SAs)
    spis_in = {sa.spi for sa in own if sa.dst == side.address}
    spis_out = {sa.spi for sa in own if sa.src == side.address}
    modes = {sa.mode for sa in held}
    said = f"{st.source} reports" if _configured(w) else f"({side}, {st.source}; {w.note})"
    for child in st.children[-1:]:
        # IKEv2's first Child SA takes its keys from the IKE SA: no PFS there whatever
        # the proposal says (the group applies to rekeys)
        first_v2 = scenario.ike_version == 2 and child.pfs == "none" and not rekeyed
        if w.pfs and child.pfs is not None and child.pfs != (esp.dh or "none") and not first_v2:
            problems.append(Problem("pfs", f"pfs: {side} configured {esp.dh or 'no PFS'};"
                                    f" {said} PFS group {child.pfs}" if _configured(w) else
                                    f"pfs: negotiated PFS group {child.pfs}, expected"
                                    f" {esp.dh or 'no PFS'} {said}"))
        if child.cipher is not None and not _same_algorithm(child.cipher, esp.cipher, "cipher"):
            problems.append(Problem("esp", f"esp: {side} configured {esp}; {said} the Child SA's"
                                    f" cipher {child.cipher}" if _configured(w) else
                                    f"esp: negotiated ESP cipher {child.cipher}, expected"
                                    f" {esp.cipher} {said}"))
        if not esp.aead and child.integrity is not None and \
                child.integrity not in (esp.integrity, WIRE_INTEGRITY.get(esp.integrity or "")):
            problems.append(Problem("esp", f"esp: {side} configured {esp}; {said} the Child SA's"
                                    f" integrity {child.integrity}" if _configured(w) else
                                    f"esp: negotiated ESP integrity {child.integrity}, expected"
                                    f" {esp.integrity} {said}"))
        wrong = _child_vs_kernel(child, spis_in, spis_out, modes)
        if wrong and held:
            problems.append(Problem("status", f"{side}: {st.source} reports a Child SA"
                                    f" {_child_words(child)}, but its kernel holds {wrong}"))
    return problems


def _child_vs_kernel(child: ChildStatus, spis_in: set[int], spis_out: set[int],
                     modes: set[str]) -> str:
    if child.spi_in is not None and child.spi_in not in spis_in:
        return f"inbound {_spis(spis_in)}"
    if child.spi_out is not None and child.spi_out not in spis_out:
        return f"outbound {_spis(spis_out)}"
    if child.mode is not None and modes and {child.mode} != modes:
        return f"{'/'.join(sorted(modes))} mode SAs"
    return ""


def _spis(spis: set[int]) -> str:
    return "{" + ", ".join(f"0x{s:08x}" for s in sorted(spis)) + "}"


def _child_words(child: ChildStatus) -> str:
    words = [child.mode or "", f"in 0x{child.spi_in:08x}" if child.spi_in is not None else "",
             f"out 0x{child.spi_out:08x}" if child.spi_out is not None else ""]
    return " ".join(w for w in words if w)


def _other(name: str) -> str:
    return "right" if name == "left" else "left"


def against_scenario(scenario: Scenario, sas: dict[str, list[SA]],
                     statuses: dict[str, DaemonStatus], sides: dict[str, Side],
                     rekeyed: bool = False, whole: dict[str, list[SA]] | None = None
                     ) -> list[Problem]:
    problems = _mode(scenario, sas, sides)
    for name in SIDES:
        side, other = sides[name], sides[_other(name)]
        held = between(sas.get(name, []), side.address, other.address)
        esp = wanted(scenario, name, "esp", statuses)
        esp_wrong = _esp(esp, held, side) + _esn(esp, held, side)
        problems += esp_wrong
        st = statuses.get(name)
        if st is None:
            continue
        if st.error:
            problems.append(Problem("status", f"{side}: {st.source}: {st.error}"))
            continue
        if st.ike is None and held and "IKE SA" not in st.unreported:
            problems.append(Problem("status", f"{side}: {st.source} names no established IKE SA"
                                    " although its kernel holds the Child SAs"))
        problems += _ike(wanted(scenario, name, "ike", statuses), st, side)
        problems += _identities(scenario, st, side, other)
        # the daemon's own words on the Child SA's algorithms add nothing where its
        # kernel's SAs were found wrong already
        own = between((whole or sas).get(name, []), side.address, other.address)
        problems += [p for p in _children(scenario, esp, st, held, side, rekeyed, own)
                     if not (esp_wrong and p.kind == "esp")]
    return problems


def expectations(scenario: Scenario, statuses: dict[str, DaemonStatus]) -> list[str]:
    """The listing's lines on what the negotiation was compared with, where that is not
    simply each side's one proposal."""
    lines = []
    for kind in ("ike", "esp"):
        w = wanted(scenario, scenario.initiator, kind, statuses)
        if w.how == "configured" and w.esn is None:
            continue
        what = str(w.proposal) if w.proposal is not None else "not checked"
        esn = "" if w.esn is None else f", ESN {'on' if w.esn else 'off'}"
        pfs = "" if kind == "ike" or w.pfs or w.proposal is None else ", PFS group not checked"
        lines.append(f"expected {kind.upper()}: {what}{esn}{pfs}"
                     f" ({w.note or 'the rule: ' + w.how})")
        if w.how == "defaults":
            lines += [f"  {side} offers {show_offers(offered or ())}"
                      for side, offered in offers_of(scenario, kind, statuses).items()]
    return lines


def check(scenario: Scenario, sas: dict[str, list[SA]], statuses: dict[str, DaemonStatus],
          sides: dict[str, Side], rekeyed: bool = False,
          whole: dict[str, list[SA]] | None = None) -> Negotiated:
    """Both checks, and the listing (``rekeyed``: the Child SAs replaced earlier ones;
    ``whole``: all the kernels hold, where ``sas`` is only the SAs to prove)."""
    problems = agreement(sas, sides) + against_scenario(scenario, sas, statuses, sides, rekeyed,
                                                        whole)
    return Negotiated(problems, listing(sas, statuses, sides) + expectations(scenario, statuses))
