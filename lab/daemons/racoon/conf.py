"""racoon's files from the scenario: racoon.conf, psk.txt and the setkey SPD (pure: no
process, no kernel). lab.daemons.racoon runs them; the tables here are racoon.conf's
spellings of the neutral names, and what it cannot spell (`algorithm_gap`).
"""

from __future__ import annotations

from lab.algorithms import Proposal
from lab.certs import openssl_subject_hash
from lab.daemons.base import Daemon
from lab.daemons.encode import check_path, header, psk_hex
from lab.errors import DaemonError
from lab.identity import Identity
from lab.scenario import Scenario, other_side

#: neutral cipher -> racoon phase-1 and phase-2 `encryption_algorithm` (the same spelling)
CIPHER: dict[str, str] = {"3des": "3des", "aes128": "aes 128", "aes192": "aes 192",
                          "aes256": "aes 256"}
#: neutral integrity -> phase-1 `hash_algorithm`
HASH: dict[str, str] = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha384": "sha384",
                        "sha512": "sha512"}
#: neutral integrity -> phase-2 `authentication_algorithm`
AUTH: dict[str, str] = {"md5": "hmac_md5", "sha1": "hmac_sha1", "sha256": "hmac_sha256",
                        "sha256_96": "hmac_sha256",  # PF_KEY cuts it to 96 bits anyway
                        "sha384": "hmac_sha384", "sha512": "hmac_sha512"}
#: neutral DH group -> phase-1 `dh_group` and phase-2 `pfs_group` (racoon has MODP groups only)
DH: dict[str, str] = {"modp768": "1", "modp1024": "2", "modp1536": "5", "modp2048": "14",
                      "modp3072": "15", "modp4096": "16"}

#: psk.txt: racoon reads a line into 1024 bytes and decodes a key that starts with 0x as hex
#: (any other key is the rest of the line, leading blanks dropped); 255 bytes fit with room
PSK_MAX_BYTES = 255


#: ICMPv6 neighbour discovery: Neighbour Solicitation, Neighbour Advertisement
ND_TYPES = (135, 136)

#: the privilege-separated variant of a release (racoon@privsep-0.9.1): its privsep block,
#: the user and group its negotiating process runs as, its chroot in the peer directory
PRIVSEP_PREFIX = "privsep-"
PRIVSEP_USER, PRIVSEP_GROUP, PRIVSEP_ROOT = "nobody", "nogroup", "privsep-root"

ND_COMMENT = """\
# Bypass ICMPv6 neighbour discovery (NS type 135, NA type 136) in both directions.
# The policies below require ESP for *all* traffic between the two global addresses,
# and NS/NA between them match too: without an SA they are dropped, neither side can
# resolve the other's link-layer address, and IKE, which would make the SA, never
# reaches the peer. A higher priority puts these in front of the require policies."""

FWD_COMMENT = """\
# The gateways forward their hosts' traffic: Linux checks decapsulated packets that
# it forwards against a "fwd" policy. setkey adds one for every "in" policy by itself
# (its default RFC mode, setkey(8) "RFC vs Linux kernel semantics"), so none is here."""

ND_DEADLOCK_NOTE = """\
# fault nd-deadlock: no neighbour-discovery bypass, on purpose. The require policies
# below also cover NS/NA between the two addresses, so IKE never reaches the peer."""



def spell(table: dict[str, str], name: str | None, what: str) -> str:
    if name is None or name not in table:
        raise DaemonError(f"racoon has no {what} for {name!r} (has: {', '.join(table)})")
    return table[name]


def duration(seconds: int) -> str:
    """A racoon.conf `lifetime time` value in the largest exact unit."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} sec"


#: scenario fragmentation -> racoon.conf `ike_frag`. "on" is `force`: racoon as the initiator
#: reads the responder's FRAGMENTATION vendor ID nowhere (only ident_r1recv, the responder's
#: side, does), so with `on` its Main Mode message 5 left in IP fragments (measured with
#: pluto 5.2, charon 5.9.8 and racoon 0.9.1 as responders, link MTU 1280, certificates);
#: `force` fragments as the initiator and, like `on`, tells the peer racoon takes fragments
FRAGMENTATION = {"on": "force", "off": "off"}

#: scenario auth -> phase-1 `authentication_method` (racoon 0.8 has no ECDSA method)
AUTH_METHOD: dict[str, str] = {"psk": "pre_shared_key", "rsa": "rsasig"}
#: identity kind -> racoon.conf identifier type (my_identifier, peers_identifier)
ID_TYPE: dict[str, str] = {"address": "address", "fqdn": "fqdn", "user_fqdn": "user_fqdn",
                           "dn": "asn1dn"}


def identifier(identity: Identity) -> str:
    """``address 2001:db8::1``, ``fqdn "moon.example"``, ``asn1dn "C=CH, O=Lab, CN=..."``."""
    if identity.kind == "address":
        return f"address {identity.value}"
    return f'{ID_TYPE[identity.kind]} "{identity.value}"'


def algorithm_gap(scenario: Scenario, side: str) -> str | None:
    """Why racoon cannot spell this side's proposals or authentication, or None."""
    if scenario.auth not in AUTH_METHOD:
        return (f"racoon authenticates with {' or '.join(AUTH_METHOD.values())} only"
                f" (racoon.conf(5) has no ECDSA method; scenario auth {scenario.auth!r})")
    ikes, esps = scenario.ike_list(side), scenario.esp_list(side)
    if not ikes or not esps:
        return ("racoon has no default proposals (phase 1 needs a proposal block, phase 2 an"
                " sainfo): 'default' cannot be written")
    if len(esps) > 1:
        return (f"racoon's sainfo lists each algorithm class on its own, not ordered proposals:"
                f" esp list {', '.join(map(str, esps))} cannot be written")
    for ike in ikes:
        gap = _proposal_gap(ike, esps[0])
        if gap:
            return gap
    return None


def _proposal_gap(ike: Proposal, esp: Proposal) -> str | None:
    if ike.prf and ike.prf != ike.integrity:
        return f"racoon's phase-1 hash is its PRF too: ike {ike} asks for a different PRF"
    if ike.aead:
        return f"racoon has no AEAD cipher in IKEv1 phase 1: ike cipher {ike.cipher!r}"
    if esp.aead:
        return f"racoon has no AEAD cipher in phase 2: esp cipher {esp.cipher!r}"
    checks = (("ike cipher", ike.cipher, CIPHER), ("ike hash", ike.integrity, HASH),
              ("ike DH group", ike.dh, DH), ("esp cipher", esp.cipher, CIPHER),
              ("esp integrity", esp.integrity, AUTH), ("esp PFS group", esp.dh, DH))
    for what, name, table in checks:
        if what == "esp PFS group" and name is None:
            continue
        if name not in table:
            return f"racoon has no {what} {name!r} (has: {', '.join(table)})"
    return None


class RacoonConf:
    """One peer's racoon files, rendered from its daemon's scenario and side."""

    def __init__(self, daemon: Daemon, seen: str, privsep: bool) -> None:
        self.daemon = daemon
        self.scenario, self.side = daemon.scenario, daemon.side
        self.peer, self.other = daemon.peer, daemon.other
        self.home = daemon.ctx.home
        #: the other peer's address as this one sees it (behind a NAT: the router's)
        self._seen = seen
        #: the privilege-separated variant: racoon.conf's privsep block
        self.privsep = privsep

    def render(self) -> dict[str, str]:
        files = {"racoon.conf": self._racoon_conf(), "psk.txt": self._psk(),
                 "setkey.conf": self._setkey_conf()}
        if self.privsep:  # the chroot of the unprivileged process: nothing of the lab's in it
            files.update({f"{d}/README": f"racoon privsep: {why}\n" for d, why in (
                (PRIVSEP_ROOT, "the chroot of the unprivileged process"),
                ("scripts", "the script path privsep wants (no script is configured)"),
                ("certs", "the certificate path privsep wants"))})
        if self.scenario.auth != "psk":
            creds = self.daemon.credentials()
            # the CA twice: by name for ca_type, and as HASH.0 for OpenSSL's lookup in the
            # certificate path (what c_rehash would make)
            files.update({"certs/ca.pem": creds.ca_pem, "certs/peer.pem": creds.cert_pem,
                          "certs/peer.key": creds.key_pem,
                          f"certs/{openssl_subject_hash(creds.ca_pem)}.0": creds.ca_pem})
        return files

    def _header(self, what: str) -> str:
        return header("racoon", self.scenario.name, self.side, what, self.home)

    def _path(self, name: str) -> str:
        """A path in racoon.conf: a quoted string (racoon's lexer has no escapes in it)."""
        return f'"{check_path(self.home / name, "racoon")}"'

    def _sainfo(self, src: str, dst: str) -> list[str]:
        esp = self.scenario.esp_of(self.side)
        if esp is None:
            raise DaemonError("racoon has no default phase-2 proposal (esp = 'default')")
        body = [f"\tpfs_group {spell(DH, esp.dh, 'PFS group')};"] if esp.dh else []
        body += [f"\tlifetime time {duration(self.scenario.child_lifetime_of(self.side))};",
                 f"\tencryption_algorithm {spell(CIPHER, esp.cipher, 'phase-2 cipher')};",
                 f"\tauthentication_algorithm {spell(AUTH, esp.integrity, 'phase-2 integrity')};",
                 "\tcompression_algorithm deflate;"]
        return [f"sainfo address {src} any address {dst} any", "{", *body,
                *self._native("sainfo"), "}"]

    def _dpd(self) -> list[str]:
        """racoon.conf(5): dpd_delay between checks, dpd_retry seconds per unanswered check,
        dpd_maxfail checks until the peer counts as dead: about delay + timeout in all."""
        if self.scenario.dpd is None:
            return []
        delay, timeout = self.scenario.dpd
        retry = max(1, timeout // 3)
        return [f"\tdpd_delay {delay};", f"\tdpd_retry {retry};",
                f"\tdpd_maxfail {max(1, timeout // retry)};"]

    def _native(self, place: str) -> list[str]:
        lines = self.daemon.native_lines(place)
        return [f"\t# native ({self.side}.native.racoon.{place})", *(f"\t{ln}" for ln in lines)] \
            if lines else []

    def _proposal(self, ike: Proposal) -> list[str]:
        return ["\tproposal", "\t{",
                f"\t\tencryption_algorithm {spell(CIPHER, ike.cipher, 'phase-1 cipher')};",
                f"\t\thash_algorithm {spell(HASH, ike.integrity, 'phase-1 hash')};",
                f"\t\tauthentication_method {AUTH_METHOD.get(self.scenario.auth, '?')};",
                f"\t\tdh_group {spell(DH, ike.dh, 'DH group')};",
                "\t}"]

    def _identities(self) -> list[str]:
        """Identifiers when the scenario sets one (racoon's default is the address, as in
        the source text), and the certificate statements."""
        s = self.scenario
        other = other_side(self.side)
        if s.auth == "psk" and s.left.id is None and s.right.id is None:
            return []
        mine = s.identity(self.side)
        # with a certificate, racoon takes its own DN from it (no DN string to parse)
        own = "asn1dn" if mine.kind == "dn" and s.auth != "psk" else identifier(mine)
        lines = [f"\tmy_identifier {own};",
                 f"\tpeers_identifier {identifier(s.identity(other))};",
                 "\tverify_identifier on;"]
        if s.auth != "psk":
            lines += ['\tcertificate_type x509 "peer.pem" "peer.key";', '\tca_type x509 "ca.pem";',
                      "\tverify_cert on;", "\tsend_cert on;", "\tsend_cr on;"]
        return lines

    def _selectors(self) -> tuple[str, str]:
        """What this side's phase 2 protects: its own and the other's address, or (net-to-net)
        its subnet and the other's (racoon.conf(5): ``address address [/ prefix]``)."""
        if self.peer.subnet and self.other.subnet:
            return self.peer.subnet, self.other.subnet
        return self.peer.address, self.other.address

    def _path_knobs(self) -> list[str]:
        """NAT traversal (racoon.conf(5) nat_traversal: on where the path has a NAT, force
        for encapsulation = "force") and IKE fragmentation (ike_frag on/off)."""
        s, knobs = self.scenario, []
        if s.encapsulation == "force":
            knobs.append("\tnat_traversal force;")
        elif s.path.nat:
            knobs.append("\tnat_traversal on;")
        if s.fragmentation in FRAGMENTATION:
            knobs.append(f"\tike_frag {FRAGMENTATION[s.fragmentation]};")
        return knobs

    def _privsep(self) -> list[str]:
        """racoon.conf(5) privsep: the negotiating process runs as an unprivileged user in
        a chroot (the peer's own empty directory); the privileged one keeps the keys."""
        if not self.privsep:
            return []
        return ["privsep", "{", f'\tuser "{PRIVSEP_USER}";', f'\tgroup "{PRIVSEP_GROUP}";',
                f"\tchroot {self._path(PRIVSEP_ROOT)};", "}", ""]

    def _racoon_conf(self) -> str:
        s = self.scenario
        me, other = self.peer.address, self._seen
        mine, theirs = self._selectors()
        natt = s.path.nat or s.encapsulation == "force"
        if not s.ike_list(self.side):
            raise DaemonError("racoon has no default phase-1 proposal (ike = 'default')")
        lines = [
            f"path pre_shared_key {self._path('psk.txt')};",
            f"path pidfile {self._path('racoon.pid')};",
            *([f"path certificate {self._path('certs')};"]
              if s.auth != "psk" or self.privsep else []),
            # privsep insists on a script path; no script is configured, none runs
            *([f"path script {self._path('scripts')};"] if self.privsep else []),
            "",
            *self._privsep(),
            "# racoon 0.8 names the proposals it accepted at this level only (the lab reads them)",
            "log debug;",
            "",
            "listen",
            "{",
            f"\tisakmp {me} [500];",
            *([f"\tisakmp_natt {me} [4500];"] if natt else []),
            f"\tadminsock {self._path('racoon.sock')};",
            "}",
            "",
            f"remote {other}",
            "{",
            "\texchange_mode main;",
            *self._identities(),
            f"\tlifetime time {duration(s.ike_lifetime_of(self.side))};",
            *self._dpd(),
            *self._path_knobs(),
            *(line for ike in s.ike_list(self.side) for line in self._proposal(ike)),
            *self._native("remote"),
            "}",
            "",
            *self._sainfo(mine, theirs),
            "",
            *self._sainfo(theirs, mine),
        ]
        return self._header("racoon.conf") + "\n".join(lines) + "\n"

    def _psk(self) -> str:
        psk = psk_hex(self.scenario.psk_of(self.side), "racoon", PSK_MAX_BYTES)
        return (self._header("pre-shared keys") + "# identifier (the peer's address) and key;"
                " the key as 0x and the hex of its UTF-8 bytes, so any text arrives unchanged\n"
                f"{self._seen} {psk}\n")

    def _policy(self, outbound: bool) -> str:
        """One require policy; tunnel mode names the gateways (the outer addresses) and
        protects the selectors, which are subnets in net-to-net."""
        mine, theirs = self._selectors()
        me, other = self.peer.address, self._seen
        src, dst, direction = (mine, theirs, "out") if outbound else (theirs, mine, "in")
        if self.scenario.mode_of(self.side) == "tunnel":
            ends = f"{me}-{other}" if outbound else f"{other}-{me}"
            rule = f"esp/tunnel/{ends}/require"
        else:
            rule = "esp/transport//require"
        return f"spdadd {src} {dst} any -P {direction} ipsec {rule};"

    def _setkey_conf(self) -> str:
        lines = ["flush;", "spdflush;"]
        if self.scenario.fault == "nd-deadlock":
            lines.append(ND_DEADLOCK_NOTE)
        elif self.scenario.inner_family == 6:
            lines.append(ND_COMMENT)
            lines += [f"spdadd ::/0 ::/0 icmp6 {kind},0 -P {way} prio def +100 none;"
                      for kind in ND_TYPES for way in ("out", "in")]
        if self.peer.subnet:
            lines.append(FWD_COMMENT)
        # left-to-right first on both peers, as the source text writes them
        lines += [self._policy(outbound=o) for o in ((True, False) if self.side == "left"
                                                    else (False, True))]
        return self._header("setkey -f") + "\n".join(lines) + "\n"
