"""Wires onto the one session driver: the driver (:mod:`.driver`) and what each host shares."""
