"""A two-peer cell, end to end, in five modules:

- core: `Cell`, its state and its bring-up (configs, namespaces, capture, daemons);
- negotiation: who initiates, and the watch until both kernels hold the SAs;
- verdict: every check, started from one place (``judge``), and the delete phase's
  teardown check;
- collect: the artifacts a cell leaves and the path report;
- sequence: the order the phases run in, for every kind of cell (``run_cell``): the
  pytest fixtures, `ipsec-lab run` and `up`, and the warm-guest keeper all use it.
"""

from lab.cell.core import Cell, Pool

__all__ = ["Cell", "Pool"]
