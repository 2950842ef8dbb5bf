"""Errors the lab raises. Each message is one line that names the field, file
or daemon concerned and, where there is a choice, what is allowed."""

from __future__ import annotations


class LabError(Exception):
    """Base of every error the lab raises on purpose."""


class ScenarioError(LabError, ValueError):
    """A scenario description is invalid."""


class UsageError(LabError):
    """An option or argument is invalid."""


class MissingError(LabError):
    """Something the cell needs is not on this machine (binary, kernel feature, flavor)."""


class CommandError(LabError):
    """A command exited non-zero or timed out."""

    def __init__(self, argv: list[str], returncode: int | None, stdout: str, stderr: str,
                 where: str = "") -> None:
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr
        status = "timed out" if returncode is None else f"exit {returncode}"
        tail = (stderr.strip() or stdout.strip()).splitlines()[-3:]
        loc = f" in {where}" if where else ""
        super().__init__(f"{' '.join(argv)}{loc}: {status}: {' | '.join(tail)}")


class DaemonError(LabError):
    """A daemon refused its configuration, crashed, or failed to negotiate."""


class NegotiationError(DaemonError):
    """A negotiation did not end the way the scenario expects (its outcome names why)."""


class DeadlineError(LabError):
    """A deadline passed while waiting for a condition."""


class VerdictError(AssertionError):
    """The traffic on the wire does not prove what the cell claims."""
