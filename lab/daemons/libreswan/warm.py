"""Libreswan kept warm: `config setup` and the NSS database are pluto's own (read once);
a cell's connection goes in with addconn and its secrets with whack --rereadsecrets,
and whack --delete takes the connection and its states out again."""

from __future__ import annotations

import re

from lab.daemons.base import Daemon
from lab.daemons.libreswan.driver import Libreswan
from lab.daemons.libreswan.probe import major_version
from lab.daemons.libreswan.words import LIBEXEC
from lab.daemons.warm_base import WarmOps

#: whack --status lines that name a connection or a state ("name": ..., #N: "name"),
#: with or without 4.x's numeric prefix
HELD = re.compile(r'^(?:\d{3} )?(?:#\d+: )?"[^"]+"')


#: whack's cheapest listing of the loaded connections, by major version (4.x has no
#: --connectionstatus; --status lists them too, with everything else, at twice the cost)
LISTING = {4: "--status", 5: "--connectionstatus"}


def _plain(text: str) -> str:
    return "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))


def _pluto(daemon: Daemon) -> Libreswan:
    assert isinstance(daemon, Libreswan)
    return daemon


class LibreswanWarm(WarmOps):
    def globals(self, daemon: Daemon) -> str:
        """ipsec.conf's `config setup` section, and with certificates what went into the
        NSS database at the start (the CA and this side's certificate)."""
        conf = _pluto(daemon).render()["ipsec.conf"]
        setup = conf[conf.index("config setup"):].split("\n\n", 1)[0]
        if daemon.scenario.auth != "psk":
            creds = daemon.credentials()
            setup += f"\n{creds.ca_fingerprint}\n{creds.cert_pem}"
        return setup

    def load(self, daemon: Daemon, before: dict[str, str]) -> None:
        """addconn, after whack --rereadsecrets where ipsec.secrets differs from the one
        pluto has (comments aside)."""
        pluto = _pluto(daemon)
        if _plain(before.get("ipsec.secrets", "")) != _plain(
                (daemon.ctx.dir / "ipsec.secrets").read_text()):
            pluto.tool([f"{LIBEXEC}/whack", "--ctlsocket", pluto.ctl, "--rereadsecrets"],
                       timeout=10)
        pluto.load()

    def unload(self, daemon: Daemon, deleted: bool) -> None:
        """whack --delete, unless the cell's own teardown check deleted the connection."""
        if deleted:
            return
        pluto = _pluto(daemon)
        pluto.tool([f"{LIBEXEC}/whack", "--ctlsocket", pluto.ctl, "--name",
                    daemon.scenario.conn_name, "--delete"], timeout=10, check=False)

    def leftovers(self, daemon: Daemon) -> list[str]:
        """The connections pluto lists (LISTING): every IKE SA and Child SA it holds
        belongs to one, and is listed under it."""
        pluto = _pluto(daemon)
        listing = LISTING.get(major_version(daemon.ctx.flavor, daemon.ctx.tag), LISTING[5])
        out = pluto.tool([f"{LIBEXEC}/whack", "--ctlsocket", pluto.ctl, listing],
                         timeout=10, check=False)
        if out.returncode != 0:
            return [f"whack {listing} exit {out.returncode}: {out.stderr.strip()[:200]}"]
        return [ln.strip() for ln in out.stdout.splitlines() if HELD.match(ln.strip())]
