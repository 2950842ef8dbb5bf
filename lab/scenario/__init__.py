"""The neutral scenario description: what two peers should negotiate.

A scenario says nothing about any daemon's syntax. It is built in Python
(``Scenario(...)``) or read from TOML (``load_scenario(path)``); every
validation error is one line naming the field, the bad value and what is
allowed.

The package, bottom up (each module imports only the ones above it):

- ``allowed``: the choices and ranges of the fields, the sides' names, ``other_side(side)``;
- ``checks``: one field's value checks (``show``, ``check_int``, ``check_address``...);
- ``peer``: ``Peer``, one end;
- ``rules``: the checks across fields (``ScenarioRules``, Scenario's base class);
- ``model``: ``Scenario``, each side's view of it, ``seed_scenario``;
- ``files``: ``scenario_from_dict``/``scenario_to_dict``, ``load_scenario``, ``scenario_to_toml``.

The names below are re-exported for callers that import them from ``lab.scenario``.
"""

from lab.scenario.allowed import (
    ACTORS,
    AUTHS,
    DPD_ACTIONS,
    DPD_RANGE,
    ENCAPSULATIONS,
    ESP_LENGTH_RANGE,
    EXPECTS,
    FAULTS,
    FRAGMENTATIONS,
    FUZZ_RANGE,
    IKE_VERSIONS,
    LIFECYCLES,
    LIFETIME_RANGE,
    MARGIN_RANGE,
    MODES,
    NAME_CHARS,
    NAME_MAX,
    NAME_MAX_BYTES,
    PATH_MAX,
    PING_SIZE_RANGE,
    PINGS_RANGE,
    PREFIXLEN_RANGE,
    PSK_MAX_BYTES,
    REKEY_BY,
    SHORT_LIFETIME,
    SIDES,
    VANISH,
    other_side,
)
from lab.scenario.checks import (
    check_address,
    check_choice,
    check_flavor,
    check_int,
    check_name,
    check_proposal,
    check_psk,
    check_str,
    show,
)
from lab.scenario.files import (
    PEER_KEYS,
    TOP_KEYS,
    load_scenario,
    scenario_from_dict,
    scenario_to_dict,
    scenario_to_toml,
)
from lab.scenario.model import Scenario, seed_scenario
from lab.scenario.peer import Peer, as_list, one_or_list

__all__ = [
    "ACTORS", "AUTHS", "DPD_ACTIONS", "DPD_RANGE", "ENCAPSULATIONS", "ESP_LENGTH_RANGE", "EXPECTS",
    "FAULTS", "FRAGMENTATIONS", "FUZZ_RANGE", "IKE_VERSIONS", "LIFECYCLES", "LIFETIME_RANGE",
    "MARGIN_RANGE", "MODES", "NAME_CHARS", "NAME_MAX", "NAME_MAX_BYTES", "PATH_MAX", "PEER_KEYS",
    "PINGS_RANGE", "PING_SIZE_RANGE", "PREFIXLEN_RANGE", "PSK_MAX_BYTES", "REKEY_BY",
    "SHORT_LIFETIME", "SIDES", "TOP_KEYS", "VANISH", "Peer", "Scenario", "as_list",
    "check_address", "check_choice", "check_flavor", "check_int", "check_name", "check_proposal",
    "check_psk", "check_str", "load_scenario", "one_or_list", "other_side", "scenario_from_dict",
    "scenario_to_dict", "scenario_to_toml", "seed_scenario", "show",
]
