"""Kernel plumbing: which kernel holds the SAs (choice), a UML kernel per worker (uml,
guest), the serial line into it (serial) and the modules it loads (modules)."""
