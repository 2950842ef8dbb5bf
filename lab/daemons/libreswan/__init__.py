"""Libreswan (pluto), one package: ``words`` (ipsec.conf's spellings, what pluto cannot do,
its log words that end a negotiation), ``probe`` (what the installed pluto says of itself),
``render`` (ipsec.conf and ipsec.secrets), ``driver`` (pluto, addconn and whack),
``pluto_log`` (what pluto's log says was negotiated), ``warm`` (a pluto kept running
between cells), ``native`` (its native-line rules: plain data that lab.native reads below
the scenario, so this file imports nothing), ``provision`` (how its flavors are obtained:
plain data that lab.flavors reads, as native's)."""
