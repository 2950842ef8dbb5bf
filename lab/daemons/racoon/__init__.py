"""racoon (ipsec-tools), one package: ``conf`` (racoon.conf, psk.txt and the setkey SPD;
racoon.conf's spellings), ``traits`` (what racoon can do here, its log words that end a
negotiation), ``process`` (setkey and racoon started and watched), ``driver`` (initiate,
status, delete), ``admin`` (its admin socket), ``parse`` (its log and `setkey -D`),
``status`` (racoon 0.9's status and 0.8's debug log), ``native`` (its native-line rules:
plain data that lab.native reads below the scenario, so this file imports nothing),
``provision`` (its releases built from source and what the build needs: plain data that
lab.flavors reads, as native's)."""
