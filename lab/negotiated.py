"""What was negotiated, proved: both kernels hold the same ESP SAs, and those SAs and
the daemons' own accounts of their IKE SA match what each side was configured with.

Pure: fed by the kernels' SAs (lab.xfrm) and each daemon's status (lab.status), so
tests feed it recorded outputs. Every finding is a Problem with a kind; a caller that
expects a mode mismatch asks ``only_mode_mismatch(problems)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lab.identity import Identity
from lab.proposals import expected_for
from lab.scenario import SIDES, Scenario
from lab.status import ChildStatus, DaemonStatus, same_id
from lab.xfrm import SA

#: neutral ESP cipher -> (kernel algorithm, key bits incl. the salt of AEAD, AEAD ICV bits)
CIPHER: dict[str, tuple[str, int, int]] = {
    "aes128": ("cbc(aes)", 128, 0), "aes192": ("cbc(aes)", 192, 0),
    "aes256": ("cbc(aes)", 256, 0), "3des": ("cbc(des3_ede)", 192, 0),
    **{f"aes{bits}gcm{icv}": ("rfc4106(gcm(aes))", bits + 32, icv * 8)
       for bits in (128, 192, 256) for icv in (8, 12, 16)},
    "chacha20poly1305": ("rfc7539esp(chacha20,poly1305)", 288, 128),
}
#: neutral integrity -> (kernel algorithm, ICV bits of RFC 2403, 2404 and 4868)
INTEGRITY: dict[str, tuple[str, int]] = {
    "md5": ("hmac(md5)", 96), "sha1": ("hmac(sha1)", 96), "sha256": ("hmac(sha256)", 128),
    "sha384": ("hmac(sha384)", 192), "sha512": ("hmac(sha512)", 256),
    "sha256_96": ("hmac(sha256)", 96), "aesxcbc": ("xcbc(aes)", 96),
}
#: integrity whose truncation is local: a daemon's status names the transform on the wire
#: (Libreswan's sha2-truncbug negotiates HMAC-SHA2-256; the kernel check sees the 96 bits)
WIRE_INTEGRITY: dict[str, str] = {"sha256_96": "sha256"}
#: the kinds of Problem, in the order they are reported
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


@dataclass(frozen=True)
class Side:
    """One peer as the findings name it: ``left (libreswan 5.2)``."""

    name: str
    label: str
    address: str
    #: ICV bits this side's daemon installs where they differ from INTEGRITY's
    icv_bits: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name} ({self.label})"


@dataclass
class Negotiated:
    problems: list[Problem]
    lines: list[str]  # the listing: per side, the IKE SA, the Child SA, identities


# -- describing what a kernel holds -----------------------------------------------------


def _bits(key_hex: str) -> int:
    return len(key_hex) * 4


def esp_name(sa: SA) -> str:
    """The neutral name of an SA's ESP transform where there is one, else the kernel's."""
    if sa.aead:
        found = [n for n, spec in CIPHER.items()
                 if spec == (sa.aead[0], _bits(sa.aead[1]), sa.aead[2])]
        return found[0] if found else f"{sa.aead[0]}/{_bits(sa.aead[1])}"
    cipher = next((n for n, (alg, bits, icv) in CIPHER.items()
                   if not icv and sa.enc and (alg, bits) == (sa.enc[0], _bits(sa.enc[1]))),
                  f"{sa.enc[0]}/{_bits(sa.enc[1])}" if sa.enc else "no-cipher")
    integ = next((n for n, spec in INTEGRITY.items()
                  if sa.auth and spec == (sa.auth[0], sa.auth[2])),
                 f"{sa.auth[0]}/{sa.auth[2]}" if sa.auth else "no-integrity")
    return f"{cipher}-{integ}"


def esp_detail(sa: SA) -> str:
    """What the kernel holds, in its own words: algorithms, key and ICV lengths."""
    if sa.aead:
        return f"{sa.aead[0]} {_bits(sa.aead[1])}-bit key incl. salt, {sa.aead[2]}-bit ICV"
    enc = f"{sa.enc[0]} {_bits(sa.enc[1])}-bit key" if sa.enc else "no cipher"
    auth = f"{sa.auth[0]} {sa.auth[2]}-bit ICV" if sa.auth else "no integrity"
    return f"{enc}, {auth}"


def expected_detail(cipher: str, integrity: str | None, icv_bits: dict[str, int]) -> str:
    alg, bits, icv = CIPHER[cipher]
    if icv:
        return f"{alg} {bits}-bit key incl. salt, {icv}-bit ICV"
    if integrity is None or integrity not in INTEGRITY:
        return f"{alg} {bits}-bit key, integrity {integrity}"
    ialg, ibits = INTEGRITY[integrity]
    return f"{alg} {bits}-bit key, {ialg} {icv_bits.get(integrity, ibits)}-bit ICV"


def between(sas: Iterable[SA], a: str, b: str) -> list[SA]:
    return [sa for sa in sas if sa.proto == "esp" and {sa.src, sa.dst} == {a, b}]


# -- 1. both kernels agree -----------------------------------------------------------------


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


def _esp(scenario: Scenario, name: str, held: list[SA], side: Side) -> list[Problem]:
    """One finding per side and kind of wrong SA, naming the SPIs."""
    esp = expected_for(scenario, name, "esp")
    if esp is None:  # 'default' on a side: the daemons chose; agreement() still checks them
        return []
    wrong: dict[str, list[int]] = {}
    for sa in held:
        want = CIPHER[esp.cipher]
        if esp.aead:
            ok = sa.aead is not None and (sa.aead[0], _bits(sa.aead[1]), sa.aead[2]) == want
            ok = ok and sa.enc is None and sa.auth is None
        else:
            ialg, ibits = INTEGRITY.get(esp.integrity or "", ("?", 0))
            ibits = side.icv_bits.get(esp.integrity or "", ibits)
            ok = (sa.aead is None and sa.enc is not None and sa.auth is not None
                  and (sa.enc[0], _bits(sa.enc[1])) == want[:2]
                  and (sa.auth[0], sa.auth[2]) == (ialg, ibits))
        if not ok:
            wrong.setdefault(f"{esp_name(sa)} ({esp_detail(sa)})", []).append(sa.spi)
    return [Problem("esp", f"esp: {side} configured {esp}"
                    f" ({expected_detail(esp.cipher, esp.integrity, side.icv_bits)});"
                    f" {'spi' if len(spis) == 1 else 'spis'} {', '.join(f'0x{s:08x}' for s in spis)}"
                    f" in its kernel {'is' if len(spis) == 1 else 'are'} {what}")
            for what, spis in wrong.items()]


def _ike(scenario: Scenario, name: str, st: DaemonStatus, side: Side) -> list[Problem]:
    ike = expected_for(scenario, name, "ike")
    if st.ike is None or ike is None:
        return []
    expected = {"cipher": ike.cipher, "integrity": "none" if ike.aead else ike.integrity,
                "prf": ike.effective_prf, "group": ike.dh}
    reported = {"cipher": st.ike.cipher, "integrity": st.ike.integrity, "prf": st.ike.prf,
                "group": st.ike.dh}
    wrong = [f"{k} {reported[k]} (configured {expected[k]})" for k in expected
             if reported[k] is not None and expected[k] is not None
             and not _same_algorithm(reported[k], expected[k], k)]
    if not wrong:
        return []
    return [Problem("ike", f"ike: {side} configured {ike}; {st.source} reports " + ", ".join(wrong))]


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


def _children(scenario: Scenario, name: str, st: DaemonStatus, held: list[SA],
              side: Side) -> list[Problem]:
    esp = expected_for(scenario, name, "esp")
    problems: list[Problem] = []
    if esp is None:
        return problems
    spis_in = {sa.spi for sa in held if sa.dst == side.address}
    spis_out = {sa.spi for sa in held if sa.src == side.address}
    modes = {sa.mode for sa in held}
    for child in st.children[-1:]:
        # IKEv2's first Child SA takes its keys from the IKE SA: no PFS there whatever
        # the proposal says (the group applies to rekeys)
        first_v2 = scenario.ike_version == 2 and child.pfs == "none"
        if child.pfs is not None and child.pfs != (esp.dh or "none") and not first_v2:
            problems.append(Problem("pfs", f"pfs: {side} configured {esp.dh or 'no PFS'};"
                                    f" {st.source} reports PFS group {child.pfs}"))
        if child.cipher is not None and not _same_algorithm(child.cipher, esp.cipher, "cipher"):
            problems.append(Problem("esp", f"esp: {side} configured {esp}; {st.source} reports"
                                    f" the Child SA's cipher {child.cipher}"))
        if not esp.aead and child.integrity is not None and \
                child.integrity not in (esp.integrity, WIRE_INTEGRITY.get(esp.integrity or "")):
            problems.append(Problem("esp", f"esp: {side} configured {esp}; {st.source} reports"
                                    f" the Child SA's integrity {child.integrity}"))
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
                     statuses: dict[str, DaemonStatus], sides: dict[str, Side]) -> list[Problem]:
    problems = _mode(scenario, sas, sides)
    for name in SIDES:
        side, other = sides[name], sides[_other(name)]
        held = between(sas.get(name, []), side.address, other.address)
        esp_wrong = _esp(scenario, name, held, side)
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
        problems += _ike(scenario, name, st, side)
        problems += _identities(scenario, st, side, other)
        # the daemon's own words on the Child SA's algorithms add nothing where its
        # kernel's SAs were found wrong already
        problems += [p for p in _children(scenario, name, st, held, side)
                     if not (esp_wrong and p.kind == "esp")]
    return problems


# -- the listing ---------------------------------------------------------------------------


def listing(sas: dict[str, list[SA]], statuses: dict[str, DaemonStatus],
            sides: dict[str, Side]) -> list[str]:
    """Per side: the IKE SA and identities as the daemon reports them, the Child SA as
    its kernel holds it (negotiated.txt, and `ipsec-lab run`'s output)."""
    lines = []
    for name in SIDES:
        side, other = sides[name], sides[_other(name)]
        st = statuses.get(name)
        lines.append(f"{side}, {side.address}:")
        if st is None:
            lines.append("  (no status read)")
        elif st.error:
            lines.append(f"  {st.source}: {st.error}")
        elif st.ike is None:
            lines.append(f"  IKE SA: none in {st.source}")
        else:
            i = st.ike
            algs = " ".join(f"{k} {v}" for k, v in (("cipher", i.cipher), ("integrity", i.integrity),
                                                    ("prf", i.prf), ("group", i.dh)) if v)
            version = f"IKEv{i.version} " if i.version else ""
            lines.append(f"  IKE SA ({st.source}): {version}{algs or 'algorithms not reported'}")
            lines.append(f"  identities: local {i.local_id or 'not reported'},"
                         f" peer {i.remote_id or 'not reported'}")
        held = between(sas.get(name, []), side.address, other.address)
        for sa in sorted(held, key=lambda s: s.src != side.address):
            way = "out" if sa.src == side.address else "in "
            esn = ", ESN" if sa.esn else ""
            lines.append(f"  ESP {way} spi 0x{sa.spi:08x}: {sa.mode}, {esp_name(sa)}"
                         f" ({esp_detail(sa)}{esn})")
        if st is not None and st.children and st.children[-1].pfs is not None:
            lines.append(f"  PFS group: {st.children[-1].pfs}")
        if st is not None and st.unreported:
            lines.append(f"  not reported by {side.label.split()[0]}: {', '.join(st.unreported)}")
    return lines


def check(scenario: Scenario, sas: dict[str, list[SA]], statuses: dict[str, DaemonStatus],
          sides: dict[str, Side]) -> Negotiated:
    """Both checks, and the listing."""
    problems = agreement(sas, sides) + against_scenario(scenario, sas, statuses, sides)
    return Negotiated(problems, listing(sas, statuses, sides))
