"""What a daemon can do, asked of its class before any cell runs: the programs it needs,
the IKE versions, lifecycle events and rekeys it takes part in, whose proposal order it
follows (lab.daemons.base.Daemon is made of this, its process handling and its log)."""

from __future__ import annotations

from typing import ClassVar

from lab.flavors import Flavor
from lab.scenario import Scenario


class Capabilities:
    """A driver's capability settings (data: override them in the driver's class) and the
    questions asked of them; a driver overrides a question where its daemon needs more."""

    name: ClassVar[str]
    #: IKE versions the implementation speaks at all
    ike_versions: ClassVar[tuple[int, ...]] = (1, 2)
    #: ICV bits the daemon's kernel interface installs where they differ from the RFC
    #: lengths (lab.negotiated.INTEGRITY), by neutral integrity name
    icv_bits: ClassVar[dict[str, int]] = {}
    #: what the driver can rekey on command ("child", "ike"), per IKE version: rekey()
    rekeys_on_command: ClassVar[dict[int, tuple[str, ...]]] = {}
    #: why the daemon cannot rekey on command in an IKE version, in its own words
    no_rekey_command: ClassVar[dict[int, str]] = {}
    #: lifecycle events (lab.scenario.LIFECYCLES) the daemon cannot take part in, and why
    lifecycle_gaps: ClassVar[dict[str, str]] = {}
    #: whether the daemon negotiates a connection it initiated again when its peer deletes
    #: it (lab.lifecycle's teardown lets such a side delete first)
    revives: ClassVar[bool] = False
    #: why the daemon can never carry one address family inside the other (4in6, 6in4),
    #: or None where it can
    no_mixed_families: ClassVar[str | None] = None
    #: whose order of preference this daemon follows when it responds to a proposal list
    #: ('initiator': the first of the initiator's list it accepts; 'responder': its own first)
    preference: ClassVar[str] = "initiator"
    #: what the daemon offers for ESN with a proposal the lab renders (which names no ESN):
    #: empty where that is either, the peer's pick (lab.proposals.offers_of)
    configured_esn: ClassVar[tuple[bool, ...]] = ()

    @classmethod
    def binaries(cls) -> tuple[str, ...]:
        """Executables the implementation needs (names or absolute paths)."""
        return ()

    @classmethod
    def missing(cls, flavor: Flavor) -> str | None:
        """What this flavor lacks to run the daemon at all, or None."""
        for exe in cls.binaries():
            if flavor.which(exe) is None:
                return f"{flavor.name}: {exe} not found {flavor.where}"
        return None

    @classmethod
    def never(cls, scenario: Scenario, side: str) -> str | None:
        """Why no build of this daemon could play ``side`` of ``scenario`` (asked of the
        implementation, not of a flavor: the matrix generates no such cell), or None."""
        version = scenario.ike_version_of(side)
        if version not in cls.ike_versions:
            return f"{cls.name} does not speak IKEv{version}"
        if cls.no_mixed_families and scenario.outer_family != scenario.inner_family:
            return f"{cls.name}: {cls.no_mixed_families}"
        return None

    @classmethod
    def unsupported(cls, scenario: Scenario, side: str, flavor: Flavor, tag: str) -> str | None:
        """Why this flavor cannot play ``side`` of ``scenario``, or None."""
        never = cls.never(scenario, side)
        if never:
            return f"{flavor.name}: {never}"
        lacks = cls.kernel_lacks()
        if lacks:
            return f"{flavor.name}: {lacks}"
        return cls.lifecycle_unsupported(scenario, side, flavor)

    @classmethod
    def kernel_lacks(cls) -> str | None:
        """What the running kernel lacks that the daemon needs (asked, through
        ``unsupported``, only in the kernel that will hold the SAs), or None."""
        return None

    @classmethod
    def lifecycle_unsupported(cls, scenario: Scenario, side: str, flavor: Flavor) -> str | None:
        """Why this daemon cannot play ``side`` in the scenario's lifecycle event, or None."""
        event = scenario.lifecycle
        if event in cls.lifecycle_gaps:
            return f"{flavor.name}: {cls.lifecycle_gaps[event]}"
        version = scenario.ike_version_of(side)
        if event in ("rekey-child", "rekey-ike") and scenario.rekey_by == "command" \
                and side == scenario.actor_side \
                and event.removeprefix("rekey-") not in cls.rekeys_on_command.get(version, ()):
            return f"{flavor.name}: " + cls.no_rekey_command.get(
                version, f"the driver has no command to rekey the"
                         f" {'Child' if event == 'rekey-child' else 'IKE'} SA")
        return None

    @classmethod
    def version(cls, flavor: Flavor, tag: str) -> str:
        """The daemon's version in ``flavor`` (for the report and the known lists)."""
        return "unknown"

    @classmethod
    def prefers(cls, scenario: Scenario, side: str) -> str:
        """Whose order ``side`` follows as the responder (lab.proposals)."""
        return cls.preference
