"""SPIs in the words of the lifecycle's findings."""

from __future__ import annotations


def spi_text(spis: set[int] | list[int]) -> str:
    """SPIs as the lifecycle's findings write them: ``{0x0000abcd, ...}``, in order."""
    return "{" + ", ".join(f"0x{x:08x}" for x in sorted(spis)) + "}"


def spis_text(by_side: dict[str, set[int]] | dict[str, list[int]]) -> str:
    """``left {...}; right {...}``."""
    return "; ".join(f"{side} {spi_text(spis)}" for side, spis in by_side.items())
