"""One Session drives every engine from every source; recordings; failures stay contained."""

import json

import numpy as np
import pytest
import soundfile as sf

from stt_notebook import ConfigError, Final, Session, UnknownEngineError, audio, engines
from stt_notebook.engines.base import Engine, ThreadedStream
from stt_notebook.events import from_wire, to_wire

from tests.support import corpus_cer


async def test_numpy_array_at_its_own_rate(ko_clip):
    path, ref = ko_clip
    x44 = audio.resample(audio.load_audio(path), 16000, 44100)
    t = await Session("ko", engine="vosk").run(x44, sample_rate=44100)
    assert corpus_cer([ref], [t.text]) < 0.2


async def test_async_iterator_source_and_both_fanouts(ko_clip):
    path, ref = ko_clip
    pcm = audio.load_pcm16(path)

    async def mic():
        for frame in audio.frames(pcm, 40):
            yield frame

    session = Session("ko", engine="auto")
    seen = []
    session.subscribe(seen.append)
    await session.start()
    iterated = []

    async def consume():
        async for event in session.events():
            iterated.append(event)

    import asyncio

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    t = await session.run(mic())
    await consumer
    assert seen == iterated == t.events
    assert corpus_cer([ref], [t.text]) < 0.2


async def test_recording_keeps_audio_and_events(tmp_path, ko_clip):
    path, _ = ko_clip
    pcm = audio.load_pcm16(path)
    wav, jsonl = tmp_path / "rec.wav", tmp_path / "rec.jsonl"
    t = await Session("ko", engine="vosk", record_audio=wav, record_events=jsonl).run(pcm)
    recorded, rate = sf.read(wav, dtype="int16")
    assert rate == 16000 and recorded.tobytes() == pcm
    frames = [json.loads(line) for line in jsonl.read_text("utf-8").splitlines()]

    def comparable(frame):
        return {k: v for k, v in frame.items() if k != "timestamp" or frame["type"] == "speech_started"}

    assert [comparable(f) for f in frames] == [comparable(to_wire(e)) for e in t.events]
    assert [type(from_wire(f)) for f in frames] == [type(e) for e in t.events]


async def test_manual_send_and_finalize_keep_the_stream_open(ko_clip):
    path, _ = ko_clip
    pcm = audio.load_pcm16(path)
    half = len(pcm) // 4 * 2
    async with Session("ko", engine="vosk") as session:
        for frame in audio.frames(pcm[:half], 100):
            await session.send(frame)
        await session.finalize()
        for frame in audio.frames(pcm[half:], 100):
            await session.send(frame)
    finals = session.transcript.finals
    assert any(f.from_finalize for f in finals[:-1]) and len(finals) >= 2
    assert session.transcript.words["start"].is_monotonic_increasing


class _DyingStream(ThreadedStream):
    """A test engine that hears one word per chunk, then its decoder crashes."""

    def _accept(self, pcm):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls > 3:
            raise RuntimeError("decoder crashed")
        from stt_notebook.events import Word

        t = self.stream_time
        return [Final(f"w{self.calls}", 0.9, t, t + 0.1, (Word(f"w{self.calls}", t, t + 0.1, 0.9),),
                      speech_final=True)]

    def _flush(self, final):
        return []


class _DyingEngine(Engine):
    name = "dying"
    languages = ("ko",)

    def stream(self, config):
        return _DyingStream(config)


async def test_an_engine_that_dies_is_an_error_event_and_nothing_heard_is_lost(monkeypatch):
    monkeypatch.setitem(engines.FACTORIES, "dying", lambda model: _DyingEngine())
    pcm = audio.float_to_pcm16(np.zeros(16000 * 5, np.float32))
    session = Session("ko", engine="dying", interim_results=False)
    t = await session.run(pcm, frame_ms=100)
    assert [f.text for f in t.finals] == ["w1", "w2", "w3"]
    assert t.errors and t.errors[0].code == "ENGINE_ERROR" and "decoder crashed" in t.errors[0].message
    # the process and other sessions carry on
    t2 = await Session("ko", engine="vosk").run(pcm)
    assert not t2.errors


def test_bad_names_are_refused_before_anything_loads():
    with pytest.raises(UnknownEngineError):
        Session("ko", engine="nope")
    with pytest.raises(ConfigError) as e:
        Session("ko", engine="vosk", interim_result=True)
    assert "interim_results" in str(e.value)  # the hint lists the real names


async def test_a_session_continues_a_transcript_its_times_running_on():
    first = Session("ko", engine="echo")
    transcript = await first.run(bytes(32000))
    second = Session("ko", engine="echo", transcript=transcript, offset=first.audio_seconds)
    assert await second.run(bytes(16000)) is transcript
    spans = [(f.start, f.end) for f in transcript.finals]  # echo: one final per 100 ms frame
    assert len(spans) == 15 and spans[10] == (1.0, 1.1) and spans[-1] == (1.4, 1.5)
    assert transcript.words.start.is_monotonic_increasing
