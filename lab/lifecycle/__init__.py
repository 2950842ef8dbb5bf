"""After the first SA: lifecycle events under continuous traffic.

A lifecycle cell brings the SAs up as any cell does, keeps an echo stream flowing
(lab.wire.stream), watches both kernels' XFRM events (lab.xfrm_monitor), makes one event
happen (lab.lifecycle.events: a rekey by command or by lifetime, a restart, a vanished
peer, a delete, simultaneous initiation, the responder initiating), judges the wire over
windows that follow SPI changes (lab.lifecycle.judge) and writes a timeline of it all
(lab.lifecycle.timeline)."""
