"""The IKE daemons, one package (or module) per daemon behind one interface
(lab.daemons.base.Daemon); lab.daemons.registry holds the table of them. This file imports
nothing: a daemon's native-line rules (lab.daemons.libreswan.native, ...) and its
provision (lab.daemons.libreswan.provision, ...) sit in a lower layer than its driver and
are read by lab.native and lab.flavors without starting the drivers."""
