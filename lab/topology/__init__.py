"""Topologies: the table of layouts (table), how one is built in-process (build), and
network namespaces without forking (netns)."""
