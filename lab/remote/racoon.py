"""racoon as a road-warrior gateway (IKEv1): ``remote anonymous`` takes any peer in
Aggressive Mode, whose first message names the client, so racoon finds that client's PSK
by its identity in psk.txt; the ``mode_cfg`` section hands out the pool (racoon built
with --enable-hybrid, as lab/provision/scripts/build-racoon.sh builds it);
``generate_policy`` makes the SPD from each client's phase 2 (the client's virtual IP
and the gateway's subnet), so setkey only flushes. The IKE SAs the gateway holds are
read from its log (racoon's words)."""

from __future__ import annotations

import ipaddress
import re

from lab.certs import openssl_subject_hash
from lab.daemons.encode import header, psk_hex
from lab.daemons.racoon.conf import (
    AUTH,
    AUTH_METHOD,
    CIPHER,
    DH,
    HASH,
    PSK_MAX_BYTES,
    identifier,
)
from lab.daemons.racoon.conf import duration as _duration
from lab.daemons.racoon.conf import spell as _spell
from lab.daemons.racoon.driver import Racoon
from lab.daemons.racoon.status import id_payload_text
from lab.peers import Connection
from lab.remote.base import RoleDriver, Session
from lab.scenario import Scenario
from lab.status import DaemonStatus, IkeStatus

#: racoon's words for an ISAKMP SA that came up or went, and for an IPsec SA that came up
#: (one line per direction), each naming the peer's address
PH1_UP = re.compile(r"ISAKMP-SA established (?P<me>[^\s\[]+)\[\d+\]-(?P<peer>[^\s\[]+)\[\d+\]")
PH1_GONE = re.compile(r"ISAKMP-SA (?:deleted|expired) (?P<me>[^\s\[]+)\[\d+\]-(?P<peer>[^\s\[]+)\[\d+\]")
#: a gateway with certificates: its own, the CA's, and the client's ID checked against the
#: client's certificate (verify_identifier: racoon otherwise only warns of a mismatch)
CERT_LINES = ['\tcertificate_type x509 "peer.pem" "peer.key";', '\tca_type x509 "ca.pem";',
              "\tverify_cert on;", "\tverify_identifier on;", "\tsend_cert on;",
              "\tsend_cr on;"]
PH2_UP = re.compile(r"IPsec-SA established: \S+ (?P<src>[^\s\[]+)\[\d+\]->(?P<dst>[^\s\[]+)\[\d+\]")


#: racoon's debug log names the peer whose ID payload it dumps next (its body, in hex)
PEER_ID = re.compile(r"\[(?P<peer>[^\]]+)\] DEBUG: peer's ID")
HEX_DUMP = re.compile(r"[0-9a-f]{2,8}(?: [0-9a-f]{2,8})*")


def parse_peer_ids(log: str) -> dict[str, str]:
    """Peer address -> the identity its (last) phase 1 sent, from racoon's debug log
    ("[ADDR] DEBUG: peer's ID", then a hex dump of the ID payload's body)."""
    lines, out = log.splitlines(), {}
    for i, line in enumerate(lines):
        if not (m := PEER_ID.search(line)):
            continue
        for after in lines[i + 1:i + 4]:
            text = after.rsplit("DEBUG:", 1)[-1].strip()
            if HEX_DUMP.fullmatch(text):
                ident = id_payload_text(bytes.fromhex(text.replace(" ", "")))
                if ident is not None:
                    out[m["peer"]] = ident
                break
    return out


def parse_log_sessions(log: str, me: str) -> list[Session]:
    """The ISAKMP SAs racoon's log says are up, per peer, with their IPsec SAs (one per
    direction pair)."""
    up: dict[str, int] = {}
    kids: dict[str, int] = {}
    for line in log.splitlines():
        if m := PH1_UP.search(line):
            up[m["peer"]] = up.get(m["peer"], 0) + 1
        elif m := PH1_GONE.search(line):
            up[m["peer"]] = up.get(m["peer"], 0) - 1
        elif m := PH2_UP.search(line):
            peer = m["src"] if m["dst"] == me else m["dst"]
            kids[peer] = kids.get(peer, 0) + 1
    return [Session("anonymous", peer, "", kids.get(peer, 0) // 2)
            for peer, n in up.items() for _ in range(max(n, 0))]


class Gateway(RoleDriver, Racoon):
    role = "gateway"
    remote_access = (1,)
    auths = ("psk", "rsa")
    no_certs = "racoon.conf(5) has no ECDSA authentication method"

    def render(self) -> dict[str, str]:
        n, gw, home = self.network, self.node, self.ctx.home
        s = n.pair(n.connections[0])
        net = ipaddress.ip_network(n.pool)
        first, last = (ipaddress.ip_address(a) for a in n.pool_range())
        head = header("racoon", n.name, self.side, "racoon.conf", home)
        natt = any(c.nat for c in n.clients)  # a client behind a NAT: ESP in UDP 4500
        certs = s.auth != "psk"
        conf = [
            f'path pre_shared_key "{home / "psk.txt"}";',
            *([f'path certificate "{home / "certs"}";'] if certs else []),
            f'path pidfile "{home / "racoon.pid"}";',
            "log debug;",
            "",
            "listen",
            "{",
            f"\tisakmp {gw.address} [500];",
            *([f"\tisakmp_natt {gw.address} [4500];"] if natt else []),
            f'\tadminsock "{home / "racoon.sock"}";',
            "}",
            "",
            "remote anonymous",
            "{",
            f"\texchange_mode {'main' if certs else 'aggressive'};",
            f"\tmy_identifier {identifier(s.identity('right'))};",
            *(CERT_LINES if certs else []),
            "\tpassive on;",
            "\tgenerate_policy on;",
            "\tproposal_check obey;",
            *(["\tnat_traversal on;"] if natt else []),
            f"\tlifetime time {_duration(s.ike_lifetime_of('right'))};",
            *self._proposals(s),
            "}",
            "",
            "sainfo anonymous",
            "{",
            *self._phase2(s),
            "}",
            "",
            "mode_cfg",
            "{",
            f"\tnetwork4 {first};",
            f"\tnetmask4 {net.netmask};",
            f"\tpool_size {int(last) - int(first) + 1};",
            "\tauth_source system;",
            "\tconf_source local;",
            "\taccounting none;",
            "}",
        ]
        psk = header("racoon", n.name, self.side, "pre-shared keys", home)
        psk += "# each client's identifier (Aggressive Mode names it) and its key, as hex\n"
        for conn in n.connections:
            pair = n.pair(conn)
            ident = pair.identity("left")
            psk += f"{ident.value} {psk_hex(pair.psk_of('right'), 'racoon', PSK_MAX_BYTES)}\n"
        setkey = header("racoon", n.name, self.side, "setkey -f", home)
        setkey += "# generate_policy: racoon makes each client's policies from its phase 2\n"
        return {"racoon.conf": head + "\n".join(conf) + "\n", "psk.txt": psk,
                "setkey.conf": setkey + "flush;\nspdflush;\n", **self.cert_files()}

    def cert_files(self) -> dict[str, str]:
        """Certificates: the CA by name (ca_type) and as HASH.0 (OpenSSL's lookup in the
        certificate path), the node's certificate and key."""
        if self.network.auth == "psk":
            return {}
        creds = self.credentials()
        return {"certs/ca.pem": creds.ca_pem, "certs/peer.pem": creds.cert_pem,
                "certs/peer.key": creds.key_pem,
                f"certs/{openssl_subject_hash(creds.ca_pem)}.0": creds.ca_pem}

    @staticmethod
    def _proposals(s: Scenario) -> list[str]:
        out = []
        for ike in s.ike_list("right"):
            out += ["\tproposal", "\t{",
                    f"\t\tencryption_algorithm {_spell(CIPHER, ike.cipher, 'phase-1 cipher')};",
                    f"\t\thash_algorithm {_spell(HASH, ike.integrity, 'phase-1 hash')};",
                    f"\t\tauthentication_method {AUTH_METHOD[s.auth]};",
                    f"\t\tdh_group {_spell(DH, ike.dh, 'DH group')};", "\t}"]
        return out

    @staticmethod
    def _phase2(s: Scenario) -> list[str]:
        esp = s.esp_of("right")
        assert esp is not None
        return ([f"\tpfs_group {_spell(DH, esp.dh, 'PFS group')};"] if esp.dh else []) + [
            f"\tlifetime time {_duration(s.child_lifetime_of('right'))};",
            f"\tencryption_algorithm {_spell(CIPHER, esp.cipher, 'phase-2 cipher')};",
            f"\tauthentication_algorithm {_spell(AUTH, esp.integrity, 'phase-2 integrity')};",
            "\tcompression_algorithm deflate;"]

    def sessions(self) -> list[Session]:
        return parse_log_sessions(self.log_text(), self.node.address)

    def status_of(self, conn: Connection) -> DaemonStatus | None:
        """With certificates: the identity the client's phase 1 sent, which racoon checked
        against the client's certificate (verify_identifier), from its debug log by the
        client's address; nothing else is read per connection (None with a PSK)."""
        n = self.network
        if n.auth == "psk":
            return None
        seen = parse_peer_ids(self.log_text()).get(n.seen(n.by_name[conn.client]))
        return DaemonStatus(source="racoon.log (debug)",
                            ike=IkeStatus(version=1, remote_id=seen),
                            unreported=("IKE algorithms", "ESP algorithms", "PFS group"))


class Hub(Gateway):
    """A hub (IKEv1): a ``remote`` per spoke by its address (Main Mode: the PSK is found
    by the address), its proposals and identifiers (with certificates: the gateway's
    certificate statements, and the identity the spoke's certificate must name); an
    ``sainfo`` per spoke between everything on the hub's side and the spoke's subnet (both
    orders, as the two-peer driver writes them); the SPD from setkey: each spoke's
    policies, out and in (setkey adds the fwd policy of each in policy)."""

    role = "hub"

    def render(self) -> dict[str, str]:
        n, hub, home = self.network, self.node, self.ctx.home
        certs = n.auth != "psk"
        conf = [f'path pre_shared_key "{home / "psk.txt"}";',
                *([f'path certificate "{home / "certs"}";'] if certs else []),
                f'path pidfile "{home / "racoon.pid"}";', "log debug;", "",
                "listen", "{", f"\tisakmp {hub.address} [500];",
                f'\tadminsock "{home / "racoon.sock"}";', "}"]
        psk = header("racoon", n.name, self.side, "pre-shared keys", home)
        psk += ("# certificates: no keys\n" if certs else
                "# each spoke's address (Main Mode finds the key by it) and its key, as hex\n")
        spd = ["flush;", "spdflush;"]
        for conn in n.connections:
            s, spoke = n.pair(conn), n.by_name[conn.client]
            ids = [f"\tmy_identifier {identifier(s.identity('right'))};",
                   f"\tpeers_identifier {identifier(s.identity('left'))};",
                   *(CERT_LINES if certs else ["\tverify_identifier on;"])
                   ] if hub.id or spoke.id or certs else []
            conf += ["", f"remote {spoke.address}", "{", "\texchange_mode main;", *ids,
                     "\tproposal_check obey;",
                     f"\tlifetime time {_duration(s.ike_lifetime_of('right'))};",
                     *self._proposals(s), "}"]
            for src, dst in ((n.wide, spoke.subnet), (spoke.subnet, n.wide)):
                conf += ["", f"sainfo address {src} any address {dst} any", "{",
                         *self._phase2(s), "}"]
            psk += "" if certs else \
                f"{spoke.address} {psk_hex(s.psk_of('right'), 'racoon', PSK_MAX_BYTES)}\n"
            ends = (hub.address, spoke.address)
            spd += [f"spdadd {n.wide} {spoke.subnet} any -P out ipsec"
                    f" esp/tunnel/{ends[0]}-{ends[1]}/require;",
                    f"spdadd {spoke.subnet} {n.wide} any -P in ipsec"
                    f" esp/tunnel/{ends[1]}-{ends[0]}/require;"]
        head = header("racoon", n.name, self.side, "racoon.conf", home)
        setkey = header("racoon", n.name, self.side, "setkey -f", home)
        return {"racoon.conf": head + "\n".join(conf) + "\n", "psk.txt": psk,
                "setkey.conf": setkey + "\n".join(spd) + "\n", **self.cert_files()}
