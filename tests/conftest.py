"""Fixtures; what they are made of is in :mod:`tests.support`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from stt_notebook import engines

from .deepgram_servers import KEY
from .support import EN_CLIPS, KO_CLIPS, run_jupyter_server, running, wait_preloaded

# Hypothesis: no per-example deadline (a busy 2-core machine is slow now and then, which is not a
# failure); HYPOTHESIS_PROFILE=thorough tries 1000 examples where a test sets no number of its own
settings.register_profile("default", deadline=None)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def ko_clip() -> tuple[Path, str]:
    return KO_CLIPS[7]  # 104_003_0374: 8.1 s, one sentence


@pytest.fixture(scope="session")
def en_clip() -> tuple[Path, str]:
    return next(c for c in EN_CLIPS if c[0].stem == "1089-134686-0007")  # 4.3 s


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with run_jupyter_server(tmp_path_factory.mktemp("jp"), {"max_sessions": 24, "max_frame_bytes": 256 * 1024}) as s:
        yield s


@pytest.fixture
def use_deepgram(monkeypatch):
    def point(url: str, key: str = KEY):
        monkeypatch.setenv("DEEPGRAM_URL", url)
        monkeypatch.setenv("DEEPGRAM_API_KEY", key)
        engines.forget_engine("deepgram")  # the engine reads URL and key when made

    yield point
    engines.forget_engine("deepgram")


@pytest.fixture(scope="session")
def deepgram_url():
    """One real ``stt-notebook serve-deepgram`` (the plain mode of tests/deepgram_servers.py) for
    every test that only needs Deepgram's protocol served, its models loaded before the first."""
    with running("plain") as url:
        wait_preloaded(url.replace("ws://", "http://"), KEY)
        yield url


@pytest.fixture(scope="session")
def zeroth() -> dict:
    """The ten Zeroth clips through Vosk, decoded once for every test that reads them: file name → Transcript."""
    import asyncio

    from stt_notebook import Session, audio

    async def all_clips():
        return await asyncio.gather(*(Session("ko", engine="vosk").run(audio.load_pcm16(p)) for p, _ in KO_CLIPS))

    return {p.name: t for (p, _), t in zip(KO_CLIPS, asyncio.run(all_clips()))}

