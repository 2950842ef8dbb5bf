"""Scenarios of more than two peers: nodes and the connections between them (model),
and their file form (files)."""

from lab.peers.files import (
    is_network,
    load_case,
    load_network,
    network_from_dict,
    network_to_dict,
    read_file,
)
from lab.peers.model import (
                             CONN_KEYS,
                             NETWORK_TOPOLOGIES,
                             NODE_KEYS,
                             NODE_NAME,
                             TOP_KEYS,
                             Connection,
                             Network,
                             Node,
)

__all__ = ["CONN_KEYS", "NETWORK_TOPOLOGIES", "NODE_KEYS", "NODE_NAME", "TOP_KEYS",
           "Connection", "Network", "Node", "is_network", "load_case", "load_network",
           "network_from_dict", "network_to_dict", "read_file"]
