"""The pytest parameters of the grids of more than two peers (lab.remote.matrix.grid_params),
the one reading that scenarios/test_roadwarrior.py and scenarios/test_hub.py share."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lab.matrix import MatrixSelection
from lab.remote.matrix import GRIDS, grid_params

OPTIONS = ("flavors", "ike", "modes", "proposals", "pairs", "topologies", "families", "auth",
           "paths")


def option(**given: str) -> SimpleNamespace:
    """pytest's config.option with the --lab-* options given (the rest unset)."""
    return SimpleNamespace(**{f"lab_{name}": given.get(name) for name in OPTIONS})


@pytest.mark.parametrize("topology", list(GRIDS))
def test_the_default_run_has_every_cell_of_each_grid(topology: str) -> None:
    params = grid_params(option(), topology)
    cells = GRIDS[topology](MatrixSelection.from_options(None, None, None, None))
    assert [p.id for p in params] == [c.id for c in cells] and cells
    assert all(bool(p.marks) == bool(c.known()) for p, c in zip(params, cells, strict=True))


@pytest.mark.parametrize("paths", ["nat", "loss20", "drop1"])
@pytest.mark.parametrize("topology", list(GRIDS))
def test_a_run_of_paths_alone_leaves_each_grid_out(topology: str, paths: str) -> None:
    (param,) = grid_params(option(paths=paths), topology)
    assert param.id == topology and param.marks[0].name == "skip"


def test_a_path_the_named_grid_cannot_take_is_a_usage_error() -> None:
    with pytest.raises(pytest.UsageError, match="--lab-paths: 'loss20' is not for topology"
                       " road-warrior"):
        grid_params(option(topologies="road-warrior", paths="loss20"), "road-warrior")
    nat = grid_params(option(topologies="road-warrior", paths="nat"), "road-warrior")
    assert nat and all(p.id.endswith("-road-warrior-nat") for p in nat)
