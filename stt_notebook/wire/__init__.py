"""Where a client meets a Session: what it asks and is told (:mod:`.vocabulary`), the connection
state machine (:mod:`.connection`, sans-I/O), the runner and the one host adapter
(:mod:`.runner`), a pure codec per socket wire (:mod:`.stt_ws`, :mod:`.listen`; the widget's is
:mod:`stt_notebook.widget.messages`), what an operator offers (:mod:`.offer`), the figures every
host keeps (:mod:`.metrics`) and who may connect (:mod:`.auth`)."""
