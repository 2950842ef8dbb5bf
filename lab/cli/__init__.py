"""The command line (main: ipsec-lab), labs that stay up (keeper on the host, agent in
the kernel) and the clean-up of what a killed run left (cleanup)."""
