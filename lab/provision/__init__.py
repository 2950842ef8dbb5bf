"""What `ipsec-lab setup` builds into the cache, and how it shows its progress.

The build scripts ship with the package (``scripts/``): a UML kernel that boots on this
CPU, our own UML kernel, one Debian root filesystem per ``NAME@SUITE`` flavor, and the
racoon releases built from source. ``plan`` turns setup's options into steps, ``progress``
runs them one by one, says which step of how many runs and for how long, and ends with a
table of what took how long.
"""
