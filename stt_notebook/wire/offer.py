"""What a client may have on a server: the engines and models its operator offered (a Start on
``/ws/stt``), and the engine a ``/v1/listen`` handshake's query gets."""

from __future__ import annotations

from typing import Mapping, Sequence

from ..config import StreamConfig
from ..deepgram.protocol import config_from_query
from ..engines import Choice, choose, choose_engine_name, get_engine
from ..engines.models import VOSK_PACKAGES, WHISPER_PACKAGES
from ..errors import ConfigError, ModelNotFoundError, UnknownEngineError, shown
from ..session import Session
from .vocabulary import Start


def offered(start: Start, engines: Sequence[str], models: Mapping[str, str]) -> Choice:
    """The engine and model a client's Start may have: names the operator offered, the model
    resolved to its server path. Anything else is refused alike, so nothing can be probed."""
    engine = choose_engine_name(start.engine, start.config.language, cloud="deepgram" in engines)
    if engine not in engines:
        raise UnknownEngineError(f"The {engine} engine is not offered by this server.",
                                 hint=f"Choose one of: {', '.join(engines)} (or auto).")
    if start.model is None or start.model in VOSK_PACKAGES or start.model in WHISPER_PACKAGES:
        return choose(engine, start.config.language, start.model)
    if start.model in models:
        return choose(engine, start.config.language, models[start.model])
    raise ModelNotFoundError("No model by that name is offered by this server.",
                             hint=f"Offered: {', '.join([*VOSK_PACKAGES, *WHISPER_PACKAGES, *models])}.")


def offered_session(start: Start, engines: Sequence[str], models: Mapping[str, str]) -> Session:
    """A Session for a client's Start, on the operator's terms (:func:`offered`)."""
    return Session(start.config.language, engine=offered(start, engines, models), config=start.config)


def stream_for(query: list[tuple[str, str]], engine: str, allow_cloud: bool) -> tuple[StreamConfig, str]:
    """A handshake's query → the stream's config and engine, with Deepgram's rules. Raises
    ConfigError (HTTP 400, before upgrading) for a bad query or a language no engine here knows."""
    config = config_from_query(query)
    chosen = choose(engine, config.language, cloud=allow_cloud)
    if chosen.engine == "deepgram" and not allow_cloud:
        raise ConfigError("This endpoint serves the offline engines only.")
    if not get_engine(chosen).supports(config.language):
        raise ConfigError(f"No engine here knows language {shown(config.language)}.")
    return config, chosen.engine
