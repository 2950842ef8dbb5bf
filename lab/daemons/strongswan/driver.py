"""The strongSwan driver: charon started with a lean, explicit plugin list (Debian's
modular loading costs seconds in UML), answering on its own VICI socket inside the peer
directory. Its files come from SwanConfig (render.py), its control from CharonControl
(control.py); this class holds what strongSwan can do and starts charon."""

from __future__ import annotations

from lab.daemons.strongswan.control import CharonControl
from lab.daemons.strongswan.flavor import CHARONS, SWANCTL, installed_version, lacks
from lab.daemons.strongswan.render import SwanConfig
from lab.daemons.strongswan.words import IKE_SA_WORDS, OUTCOME_WORDS
from lab.errors import MissingError
from lab.flavors import Flavor
from lab.native import lines_for
from lab.scenario import Scenario


class StrongSwan(SwanConfig, CharonControl):
    name = "strongswan"
    #: charon.prefer_configured_proposals (default yes): the responder's own order counts
    preference = "responder"
    configured_esn = (False,)  # a proposal without the esn keyword: no ESN only
    log_name = "charon.log"
    outcome_words = OUTCOME_WORDS
    socket_name = "charon.vici"
    rekeys_on_command = {1: ("child", "ike"), 2: ("child", "ike")}
    stale_files = ("charon.vici",)
    ike_sa_words = IKE_SA_WORDS

    # -- capabilities ---------------------------------------------------------
    @classmethod
    def binaries(cls) -> tuple[str, ...]:
        return (SWANCTL,)

    @classmethod
    def missing(cls, flavor: Flavor) -> str | None:
        reason = super().missing(flavor)
        if reason is None and flavor.which(*CHARONS) is None:
            reason = f"{flavor.name}: no charon ({', '.join(CHARONS[:2])}) found {flavor.where}"
        return reason

    @classmethod
    def version(cls, flavor: Flavor, tag: str) -> str:
        return installed_version(flavor, tag)

    @classmethod
    def unsupported(cls, scenario: Scenario, side: str, flavor: Flavor, tag: str) -> str | None:
        return super().unsupported(scenario, side, flavor, tag) or lacks(scenario, side, flavor, tag)

    @classmethod
    def prefers(cls, scenario: Scenario, side: str) -> str:
        """The initiator's order when the side's native charon lines turn
        prefer_configured_proposals off."""
        for line in lines_for(scenario.peer(side).native, cls.name, "charon"):
            key, _, value = line.partition("=")
            if key.strip() == "prefer_configured_proposals":
                return "initiator" if value.strip() in ("no", "false", "0") else "responder"
        return cls.preference

    # -- running --------------------------------------------------------------
    def launch(self) -> None:
        charon = self.ctx.flavor.which(*CHARONS)
        if charon is None:
            raise MissingError(self.missing(self.ctx.flavor) or f"{self.ctx.flavor.name}: no charon")
        self.proc = self.spawn([charon], env=self.env)
