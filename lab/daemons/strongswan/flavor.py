"""What a flavor's strongSwan has: its programs, its plugins, whether its charon speaks
IKEv1, its version; and what a scenario asks of it that it lacks."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from lab import run as runner
from lab.daemons.strongswan.spelling import CIPHER, DH, algorithms
from lab.flavors import Flavor
from lab.scenario import Scenario

#: charon binaries, best first: Debian's charon-systemd, then the classic charon
CHARONS = ("/usr/sbin/charon-systemd", "/usr/lib/ipsec/charon", "/usr/libexec/ipsec/charon",
           "/usr/libexec/strongswan/charon", "charon-systemd", "charon")
SWANCTL = "swanctl"
PLUGIN_DIRS = ("/usr/lib/ipsec/plugins", "/usr/lib/strongswan/plugins",
               "/usr/local/lib/ipsec/plugins")
#: what charon loads, in this order (those the flavor lacks are left out)
CHARON_PLUGINS = ("random", "nonce", "openssl", "aes", "des", "sha1", "sha2", "md5", "hmac", "gcm",
                  "xcbc", "chapoly", "curve25519", "gmp", "kdf", "pem", "pkcs1", "pkcs8", "x509",
                  "pubkey", "constraints", "kernel-netlink", "socket-default", "vici", "updown")
SWANCTL_PLUGINS = ("pem", "pkcs1", "pkcs8", "x509", "pubkey", "random", "openssl")

#: neutral algorithm -> plugins that can provide it (any one will do)
PROVIDERS: dict[str, tuple[str, ...]] = {
    "3des": ("openssl", "des"), "aes128": ("openssl", "aes"), "aes192": ("openssl", "aes"),
    "aes256": ("openssl", "aes"), **{c: ("openssl", "gcm") for c in CIPHER if "gcm" in c},
    "chacha20poly1305": ("openssl", "chapoly"),
    "md5": ("openssl", "md5"), "sha1": ("openssl", "sha1"), "sha256": ("openssl", "sha2"),
    "sha256_96": ("openssl", "sha2"),
    "sha384": ("openssl", "sha2"), "sha512": ("openssl", "sha2"), "aesxcbc": ("xcbc",),
    **{g: ("openssl", "gmp") for g in DH if g.startswith("modp")},
    "ecp256": ("openssl",), "ecp384": ("openssl",), "ecp521": ("openssl",),
    "curve25519": ("openssl", "curve25519"), "curve448": ("openssl",),
    # certificates: RSA and ECDSA keys and signatures
    "rsa": ("openssl", "gmp"), "ecdsa": ("openssl",),
}
#: (IKE version, what) combinations strongSwan refuses whatever its version
NEVER: dict[tuple[int, str], str] = {
    (1, "ike-aead"): "strongSwan has no AEAD ciphers for IKEv1 IKE SAs",
}
#: IKEv1 is a build option (Debian's 6.x builds leave it out): a libcharon built with it
#: carries this log message of the Main Mode task
LIBCHARON_DIRS = ("/usr/lib/ipsec", "/usr/lib/strongswan", "/usr/local/lib/ipsec")
IKEV1_MARKER = b"is initiating a Main Mode IKE_SA"


def plugins_of(flavor: Flavor) -> frozenset[str] | None:
    """The plugins installed in the flavor, or None when no plugin directory is found
    (a static build, or a tree laid out differently: then assume all)."""
    for d in PLUGIN_DIRS:
        path = flavor.host_path(d)
        if path.is_dir():
            return frozenset(m.group(1) for f in path.iterdir()
                             if (m := re.fullmatch(r"libstrongswan-(.+)\.so", f.name)))
    return None


def charon_plugins(flavor: Flavor) -> list[str]:
    present = plugins_of(flavor)
    return [p for p in CHARON_PLUGINS if present is None or p in present]


@cache
def speaks_ikev1(flavor: Flavor) -> bool:
    """Whether the flavor's charon was built with IKEv1 (True when no libcharon is found)."""
    for d in LIBCHARON_DIRS:
        path = flavor.host_path(f"{d}/libcharon.so.0")
        if path.is_file():
            return IKEV1_MARKER in path.read_bytes()
    return True


def _dpkg_version(flavor: Flavor) -> str | None:
    try:
        status = flavor.host_path("/var/lib/dpkg/status").read_text(errors="replace")
    except OSError:
        return None
    for package in ("libstrongswan", "strongswan-swanctl", "charon-systemd"):
        m = re.search(rf"^Package: {re.escape(package)}\n(?:[^\n]+\n)*?Version: (\S+)",
                      status, re.M)
        if m and re.search(rf"^Package: {re.escape(package)}\nStatus: install ok installed",
                           status, re.M):
            return m.group(1).split(":")[-1].split("-")[0].split("+")[0]
    return None


@cache
def installed_version(flavor: Flavor, tag: str) -> str:
    """The flavor's strongSwan version: its Debian package's, else what swanctl says."""
    found = _dpkg_version(flavor)
    if found:
        return found
    exe = flavor.which(SWANCTL)
    if exe is None:
        return "unknown"
    out = runner.run([exe, "--version", "--help"], tag=tag, check=False,
                     env={"STRONGSWAN_CONF": "/dev/null"}, preexec=flavor.enter_new(Path("/tmp")))
    m = re.search(r"strongSwan (\d\S*)", out.stdout + out.stderr)
    return m.group(1) if m else "unknown"


def lacks(scenario: Scenario, side: str, flavor: Flavor, tag: str) -> str | None:
    """What the flavor's strongSwan lacks for ``side`` of ``scenario`` (IKEv1, AEAD in an
    IKEv1 IKE SA, a plugin for an algorithm or the certificates), or None."""
    v = scenario.ike_version_of(side)
    if v == 1 and not speaks_ikev1(flavor):
        return f"{flavor.name} {installed_version(flavor, tag)}: charon was built without IKEv1"
    for prop in scenario.ike_list(side):
        if prop.aead and (v, "ike-aead") in NEVER:
            return f"{flavor.name}: {NEVER[(v, 'ike-aead')]} ({prop})"
    present = plugins_of(flavor)
    if present is None:
        return None
    wanted = [(kind, str(prop), alg) for kind, props in (("ike", scenario.ike_list(side)),
                                                        ("esp", scenario.esp_list(side)))
              for prop in props for alg in algorithms(prop)]
    if scenario.auth != "psk":
        wanted.append(("auth", scenario.auth, scenario.auth))
    for kind, prop, alg in wanted:
        providers = PROVIDERS.get(alg, ())
        if not present.intersection(providers):
            return (f"{flavor.name} {installed_version(flavor, tag)}: no plugin for {alg} in {kind}"
                    f" {prop} (needs one of: {', '.join(providers)})")
    return None
