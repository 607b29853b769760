"""The standalone service: ``stt-notebook serve``."""
