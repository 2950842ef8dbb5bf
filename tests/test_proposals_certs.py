"""Proposal lists and the rule that picks the negotiated one; the vocabulary; certificates
(pure: no daemon runs)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from lab.algorithms import Proposal, parse_proposal, parse_proposals
from lab.certs import P12_PASSWORD, credentials, openssl_subject_hash
from lab.daemons.base import PeerContext
from lab.daemons.libreswan.driver import Libreswan
from lab.daemons.racoon.driver import Racoon
from lab.daemons.strongswan.driver import StrongSwan
from lab.daemons.strongswan.spelling import spell_ike
from lab.errors import ScenarioError
from lab.flavors import Flavor
from lab.identity import parse_identity
from lab.proposals import choose, expected_proposal
from lab.scenario import Scenario, scenario_from_dict

LEFT, RIGHT = "2001:db8:1:1::1", "2001:db8:2:2::2"


@pytest.fixture(autouse=True)
def _libreswan_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.daemons.libreswan import probe
    monkeypatch.setattr(probe, "pluto_version", lambda flavor, tag: "4.10")


def p(text: str, ike: bool = True) -> Proposal:
    return parse_proposal(text, "t", needs_dh=ike)


def scenario(left: dict[str, object], right: dict[str, object], **top: object) -> Scenario:
    return scenario_from_dict({"name": "t", **top, "left": {"address": LEFT, **left},
                               "right": {"address": RIGHT, **right}}, "t.toml")


# -- vocabulary ---------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("aes192gcm16-prfsha384-ecp521", Proposal("aes192gcm16", None, "ecp521", "sha384")),
    ("aes128-aesxcbc-prfaesxcbc-curve448", Proposal("aes128", "aesxcbc", "curve448", "aesxcbc")),
    ("aes256-sha256-prfsha512-ecp384", Proposal("aes256", "sha256", "ecp384", "sha512")),
    ("aes128gcm8-sha256-modp2048", Proposal("aes128gcm8", "sha256", "modp2048")),
])
def test_new_vocabulary(text: str, expected: Proposal) -> None:
    assert p(text) == expected and str(expected) == text


@pytest.mark.parametrize(("value", "ike", "words"), [
    ("aes128-sha1-prfsha1", False, "ESP has no PRF"),
    ("aes128-sha1-prfsha3-modp2048", True, "unknown PRF 'prfsha3'"),
    ("aes128gcm16-sha256-prfsha256-ecp256", True, "its PRF already"),
    ([], True, "[] is an empty list"),
    (["aes128-sha1-modp2048", "default"], True, "t[1]: 'default' inside a list"),
    (["aes128-sha1-modp2048", "aes128-sha1-modp2048"], True, "in the list twice"),
    (["aes128-sha1-modp2048", "aes129-sha1-modp2048"], True, "t[1]: unknown cipher 'aes129'"),
])
def test_bad_proposal_lists(value: object, ike: bool, words: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_proposals(value, "t", needs_dh=ike)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_lists_default_and_commas() -> None:
    assert parse_proposals("default", "t", needs_dh=True) == ()
    assert parse_proposals("aes128-sha1, aes256-sha256", "t", needs_dh=False) == (
        p("aes128-sha1", False), p("aes256-sha256", False))


# -- the rule -------------------------------------------------------------------------------
def test_choose_follows_the_preferred_side() -> None:
    a, b, c = p("aes256-sha256-ecp256"), p("aes128-sha1-modp2048"), p("3des-md5-modp2048")
    assert choose((c, a, b), (b, a)) == a  # the initiator's first that the responder takes
    assert choose((c, a, b), (b, a), "responder") == b
    assert choose((c,), (a, b)) is None
    # an AEAD proposal that leaves its PRF open matches one that names it
    assert choose((p("aes128gcm16-ecp256"),), (p("aes128gcm16-prfsha256-ecp256"),)) is not None
    assert choose((p("aes128-sha256-ecp256"),), (p("aes128-sha256-prfsha384-ecp256"),)) is None


def test_expected_proposal_asks_the_responders_driver() -> None:
    lists = {"ike": ["aes256-sha256-ecp256", "aes128-sha1-modp2048"],
             "esp": ["aes256-sha256", "aes128-sha1"]}
    back = {"ike": lists["ike"][::-1], "esp": lists["esp"][::-1]}
    lib = scenario(lists, {"flavor": "libreswan", **back})
    assert str(expected_proposal(lib, "esp")) == "aes128-sha1"  # pluto: its own order
    sw = scenario(lists, {"flavor": "strongswan", **back})
    assert str(expected_proposal(sw, "ike")) == "aes128-sha1-modp2048"
    off = scenario(lists, {"flavor": "strongswan", **back,
                           "native": {"strongswan": {"charon": ["prefer_configured_proposals = no"]}}})
    assert str(expected_proposal(off, "ike")) == "aes256-sha256-ecp256"
    racoon = scenario(lists, {"flavor": "racoon", **back}, ike_version=1)
    assert str(expected_proposal(racoon, "esp")) == "aes256-sha256"
    assert expected_proposal(scenario({"esp": "default"}, {}), "esp") is None


# -- rendering lists ------------------------------------------------------------------------
def render(cls: type, s: Scenario, tmp_path: Path, side: str = "left") -> dict[str, str]:
    ctx = PeerContext(side, "ipl-x", tmp_path / side, Flavor(cls.name), "t", tmp_path / "cache")
    return cls(s, ctx).render()


def test_lists_per_daemon(tmp_path: Path) -> None:
    s = scenario({"ike": ["aes256gcm16-prfsha384-ecp384", "aes128-sha1-modp2048"],
                  "esp": ["aes256gcm16", "aes128-aesxcbc"]}, {}, ike_version=2)
    conf = render(Libreswan, s, tmp_path)["ipsec.conf"]
    assert "\tike=aes_gcm256-sha2_384;dh20,aes128-sha1;modp2048\n" in conf
    assert "\tesp=aes_gcm256,aes128-aes_xcbc\n" in conf
    swan = render(StrongSwan, s, tmp_path)["swanctl.conf"]
    assert "proposals = aes256gcm16-prfsha384-ecp384, aes128-sha1-modp2048" in swan
    assert "esp_proposals = aes256gcm16, aes128-aesxcbc" in swan
    assert spell_ike(p("aes128-sha256-prfsha384-ecp256")) == "aes128-sha256-prfsha384-ecp256"
    default = scenario({"ike": "default", "esp": "default"}, {})
    conf = render(Libreswan, default, tmp_path)["ipsec.conf"]
    assert "\tike=" not in conf and "\tesp=" not in conf
    swan = render(StrongSwan, default, tmp_path)["swanctl.conf"]
    assert "proposals = default" in swan and "esp_proposals = default" in swan
    v1 = scenario({"ike": ["aes256-sha256-modp2048", "aes128-sha1-modp2048"]}, {}, ike_version=1)
    racoon = render(Racoon, v1, tmp_path)["racoon.conf"]
    assert racoon.count("\tproposal") == 2
    assert racoon.index("aes 256") < racoon.index("aes 128;\n\t\thash_algorithm sha1")


def test_what_a_daemon_cannot_write_is_skipped() -> None:
    flavor = Flavor("racoon")
    two = scenario({"esp": ["aes128-sha1", "aes256-sha256"]}, {}, ike_version=1)
    assert "sainfo lists each algorithm class" in (Racoon.unsupported(two, "left", flavor, "t") or "")
    ecdsa = scenario({}, {}, ike_version=1, auth="ecdsa")
    assert "no ECDSA method" in (Racoon.unsupported(ecdsa, "left", flavor, "t") or "")
    assert "ECDSA in IKEv2 only" in (
        Libreswan.unsupported(ecdsa, "left", Flavor("libreswan"), "t") or "")
    prf = scenario({"ike": "aes128-sha256-prfsha384-ecp256"}, {})
    assert "one algorithm for integrity and PRF" in (
        Libreswan.unsupported(prf, "left", Flavor("libreswan"), "t") or "")


# -- certificates --------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "key_type"), [("rsa", rsa.RSAPublicKey),
                                                 ("ecdsa", ec.EllipticCurvePublicKey)])
def test_certificates_carry_the_identity(tmp_path: Path, kind: str, key_type: type) -> None:
    dn = credentials(tmp_path, kind, "left", parse_identity("C=CH, O=Lab, CN=moon.example", "id"), LEFT)
    cert = x509.load_pem_x509_certificate(dn.cert_pem.encode())
    ca = x509.load_pem_x509_certificate(dn.ca_pem.encode())
    assert cert.subject.rfc4514_string() == "CN=moon.example,O=Lab,C=CH"
    assert isinstance(cert.public_key(), key_type)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(LEFT)]
    fqdn = credentials(tmp_path, kind, "right", parse_identity("@sun.example", "id"), RIGHT)
    san = x509.load_pem_x509_certificate(fqdn.cert_pem.encode()).extensions \
        .get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["sun.example"]
    user = credentials(tmp_path, kind, "right", parse_identity("carol@example.org", "id"), RIGHT)
    san = x509.load_pem_x509_certificate(user.cert_pem.encode()).extensions \
        .get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["carol@example.org"]
    # one CA and one key per side and session: the second run signs, it does not generate
    again = credentials(tmp_path, kind, "left", parse_identity("@moon.example", "id"), LEFT)
    assert again.ca_pem == dn.ca_pem and again.key_pem == dn.key_pem
    key, p12_cert, _ = pkcs12.load_key_and_certificates(dn.p12(), P12_PASSWORD.encode())
    assert p12_cert is not None and p12_cert.subject == cert.subject and key is not None


def test_subject_hash_is_openssls() -> None:
    pem = (Path(__file__).parent / "fixtures" / "ca-subject-hash.pem").read_text()
    assert openssl_subject_hash(pem) == "79e68161"  # `openssl x509 -hash` of that file


def test_certificates_per_daemon(tmp_path: Path) -> None:
    s = scenario({"id": "@moon.example"}, {"id": "C=CH, O=Lab, CN=sun.example"}, auth="rsa",
                 ike_version=1)
    lib = render(Libreswan, s, tmp_path)
    assert {"\tauthby=rsasig", "\tleftcert=ipsec-lab-left", "\tleftsendcert=always"} <= set(
        lib["ipsec.conf"].splitlines())
    assert "PSK" not in lib["ipsec.secrets"].split("\n", 2)[-1]
    swan = render(StrongSwan, s, tmp_path)
    assert "auth = pubkey" in swan["swanctl.conf"] and "certs = peer.pem" in swan["swanctl.conf"]
    assert "secrets" not in swan["swanctl.conf"]
    assert {"x509ca/ca.pem", "x509/peer.pem", "private/peer.key"} <= set(swan)
    rac = render(Racoon, s, tmp_path)
    conf = rac["racoon.conf"]
    assert 'certificate_type x509 "peer.pem" "peer.key";' in conf
    assert "authentication_method rsasig;" in conf and 'ca_type x509 "ca.pem";' in conf
    assert 'my_identifier fqdn "moon.example";' in conf
    assert 'peers_identifier asn1dn "C=CH, O=Lab, CN=sun.example";' in conf
    right = render(Racoon, s, tmp_path, "right")["racoon.conf"]
    assert "my_identifier asn1dn;" in right  # its DN from its own certificate
    assert f"certs/{openssl_subject_hash(rac['certs/ca.pem'])}.0" in rac
