"""Deepgram's live API: its protocol (:mod:`.protocol`, pure) and a local stand-in serving it
offline (:mod:`.local`). The engine that speaks to Deepgram's cloud is
:mod:`stt_notebook.engines.deepgram`, beside the other engines."""
