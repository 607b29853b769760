"""Fixtures; what they are made of is in :mod:`tests.support`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from xdist.scheduler import LoadScopeScheduling

from stt_notebook import engines

from .deepgram_servers import KEY
from .support import EN_CLIPS, KO_CLIPS, run_jupyter_server, running, wait_preloaded

# Hypothesis: no per-example deadline (a busy 2-core machine is slow now and then, which is not a
# failure); HYPOTHESIS_PROFILE=thorough tries 1000 examples where a test sets no number of its own
settings.register_profile("default", deadline=None)
settings.register_profile("thorough", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# One pytest-xdist worker per core. A file's tests stay on one worker (they share its servers); the
# files that use the session's shared servers and decodes run on one worker together, so each is
# started once; that group and the browser file, the two longest, start first so the workers end
# together.
SHARED_FIXTURES = {"server", "deepgram_url", "zeroth"}
SHARING = {"tests/engines/test_deepgram.py", "tests/engines/test_vosk.py", "tests/jupyter/test_kernel_connection.py",
           "tests/jupyter/test_server.py", "tests/scenarios/test_hostile.py", "tests/scenarios/test_readme.py",
           "tests/scenarios/test_same_words.py", "tests/test_client.py", "tests/text/test_text.py"}
FIRST = ("shared-servers", "tests/widget/test_browser.py")  # ~400 s and ~270 s of the ~1250
MAX_WORKERS = 4  # each worker loads its own models (~1 GB)


def _unit(nodeid: str) -> str:
    file = nodeid.split("::", 1)[0]
    return "shared-servers" if file in SHARING else file


class _FilesAndSharers(LoadScopeScheduling):
    """``--dist loadfile``, with the files in SHARING as one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return _unit(nodeid)


def pytest_xdist_make_scheduler(config, log):
    return _FilesAndSharers(config, log) if config.getvalue("dist") == "loadfile" else None


def pytest_xdist_auto_num_workers(config) -> int:
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        file = item.path.relative_to(config.rootpath).as_posix()
        if SHARED_FIXTURES & set(getattr(item, "fixturenames", ())) and file not in SHARING:
            raise pytest.UsageError(f"{file} uses the session's shared servers: add it to SHARING in tests/conftest.py")
    items.sort(key=lambda item: FIRST.index(u) if (u := _unit(item.nodeid)) in FIRST else len(FIRST))


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

