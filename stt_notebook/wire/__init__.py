"""Wires onto the one session driver: the commands every wire's codec produces (:mod:`.commands`),
the driver that takes them onto a Session (:mod:`.driver`), one pure codec per socket wire
(:mod:`.stt_ws`, :mod:`.listen`; the widget's is :mod:`stt_notebook.widget.messages`), the
figures every host keeps (:mod:`.metrics`) and the ``/ws/stt`` client (:mod:`.client`)."""
