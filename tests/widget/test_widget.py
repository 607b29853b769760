"""LiveTranscriber at the Python level: binary comm buffers in → events, view updates and Transcript rows out.

Outside a kernel the widget has a dummy comm; messages from the page are delivered through
``_handle_msg`` exactly as ipywidgets would, and what the widget sends is captured.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import types

import numpy as np
import pytest

from stt_notebook import LiveTranscriber, Transcript, audio
from stt_notebook.errors import STTError
from stt_notebook.events import Final, Interim, SpeechStarted, UtteranceEnd, Word
from stt_notebook.widget.messages import Outbox, snapshot

from tests.support import (THREE_SENTENCES, THREE_SENTENCES_TEXT, Page, chunks, corpus_cer, encoded, from_page, speak,
                           wait_until)



def test_browser_frames_become_transcript_rows_and_throttled_view_updates(ko_clip):
    path, reference = ko_clip
    w = LiveTranscriber(language="ko")
    page = Page(w)
    speak(w, audio.load_pcm16(path))
    wait_until(lambda: w.status == "idle" and not w.recording)

    words = w.transcript.words
    assert corpus_cer([reference], ["".join(words.word)]) <= 0.15
    assert words.confidence.between(0, 1).all() and len(words) >= 4
    assert (words.start.diff().dropna() >= 0).all()
    # the page saw the same finals the kernel holds, and interims while it spoke
    assert page.finals_text() == "".join(f.text for f in w.transcript.finals)
    assert any("interim" in m and m["interim"] for m in page.updates())
    # at most ~20 view updates a second: a person can read them and IOPub never drops them
    times = [t for t, m in page.messages if m["type"] == "update"]
    # (the recording's last update goes at once when it ends, so that the view is whole at "idle")
    assert min(b - a for a, b in zip(times[:-1], times[1:-1])) >= 0.045
    assert len(w.up_latency_ms) == len(audio.load_pcm16(path)) // 3200 + 1


def test_recording_again_continues_the_transcript_with_running_times(ko_clip):
    path, _ = ko_clip
    pcm = audio.load_pcm16(path)[: 16000 * 2 * 4]  # 4 s
    w = LiveTranscriber(language="ko")
    Page(w)
    for _ in range(2):
        speak(w, pcm, realtime_factor=20)
        wait_until(lambda: w.status == "idle" and not w.recording)
    words = w.transcript.words
    assert words.start.max() > 4.0  # the second take's words come after the first's
    assert (w.transcript.words.start.diff().dropna() >= -0.01).all()


def test_bad_frames_and_unknown_messages_are_reported_and_recording_goes_on(ko_clip):
    path, reference = ko_clip
    w = LiveTranscriber(language="ko")
    page = Page(w)
    pcm = audio.load_pcm16(path)
    from_page(w, {"type": "start"})
    from_page(w, {"type": "audio", "seq": 0}, [b"\x01\x02\x03"])
    from_page(w, {"type": "teleport"})
    for frame in audio.frames(pcm, 100):
        from_page(w, {"type": "audio"}, [frame])
    from_page(w, {"type": "stop"})
    wait_until(lambda: w.status in ("idle", "error") and not w.recording)
    codes = [e.code for e in w.transcript.errors]
    assert codes == ["AUDIO_FORMAT_ERROR", "INVALID_MESSAGE"]
    assert corpus_cer([reference], ["".join(w.transcript.words.word)]) <= 0.15
    assert {e["code"] for m in page.updates() for e in m.get("errors", [])} == set(codes)


def page_junk(rng) -> tuple[object, list[bytes]]:
    """A comm message a broken or hostile page might send, with its buffers."""
    value = rng.choice([None, True, -1, 10 ** 400, float("nan"), "x" * rng.randint(0, 2000), [1, [2]], {"a": {}}])
    kind = rng.choice(["audio", "audio", "start", "stop", "hello", "error", "", None, 7, "teleport", ["audio"]])
    content = rng.choice([{"type": kind, "t": value, "seq": value}, {"type": kind, "code": value, "message": value},
                          [kind], value])
    buffers = [rng.randbytes(rng.choice([0, 1, 3, 320, 3200])) for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.01:
        buffers.append(bytes((1 << 20) + 2))  # past the frame limit
    return content, buffers


def test_a_hostile_page_gets_coded_errors_and_the_widget_still_transcribes(ko_clip):
    import random

    path, reference = ko_clip
    w = LiveTranscriber(language="ko")
    page = Page(w)
    rng = random.Random(14)
    for _ in range(2000):
        from_page(w, *page_junk(rng))
    from_page(w, {"type": "stop"})
    wait_until(lambda: not w.recording and not w.link.runner.connection.queue)  # every message taken and told
    time.sleep(0.2)
    codes = {e.code for e in w.transcript.errors}
    assert codes <= {"INVALID_MESSAGE", "AUDIO_FORMAT_ERROR", "PAYLOAD_TOO_LARGE", "DEVICE_ERROR"}, codes
    assert {"INVALID_MESSAGE", "AUDIO_FORMAT_ERROR", "PAYLOAD_TOO_LARGE"} <= codes
    assert all(len(e["message"]) <= 500 for m in page.updates() for e in m.get("errors", []))
    errors_before = len(w.transcript.errors)
    speak(w, audio.load_pcm16(path), realtime_factor=20)
    wait_until(lambda: w.status == "idle" and not w.recording)
    assert len(w.transcript.errors) == errors_before
    clean_take = w.transcript.words.start >= w.audio_seconds - len(audio.load_pcm16(path)) / 32000
    assert corpus_cer([reference], ["".join(w.transcript.words[clean_take].word)]) <= 0.15


def test_page_capture_failure_is_shown_and_recorded():
    w = LiveTranscriber(language="ko")
    Page(w)
    from_page(w, {"type": "error", "code": "DEVICE_ERROR", "message": "Microphone permission was denied."})
    wait_until(lambda: w.status == "error")
    assert w.transcript.errors[0].code == "DEVICE_ERROR"
    assert "permission" in w.message


def test_a_reloaded_page_gets_everything_heard_so_far(ko_clip):
    path, _ = ko_clip
    w = LiveTranscriber(language="ko")
    page = Page(w)
    speak(w, audio.load_pcm16(path), realtime_factor=20)
    wait_until(lambda: w.status == "idle" and not w.recording)
    from_page(w, {"type": "hello"})
    wait_until(lambda: page.messages[-1][1]["type"] == "snapshot")
    shot = page.messages[-1][1]
    assert "".join(f["text"] for f in shot["finals"]) == "".join(f.text for f in w.transcript.finals)
    assert [kind for kind, _ in shot["marks"]].count("speech_started") >= 1


def test_file_source_plays_at_real_time_and_stop_drains(en_clip):
    path, reference = en_clip
    w = LiveTranscriber(language="en", source=str(path))
    page = Page(w)
    w.start()
    wait_until(lambda: w.status == "recording")
    time.sleep(2.0)
    assert w.recording  # a 4.3 s clip at real time is still playing
    transcript = w.stop()
    assert not w.recording and w.status == "idle"
    assert 1.5 < w.audio_seconds < 4.0  # stopped part-way: the rest was never sent
    assert any("level" in m for m in page.updates())  # the meter moves for kernel-side sources
    w.start()  # the file plays again from its start
    wait_until(lambda: w.status == "idle" and not w.recording and w.audio_seconds > 6, timeout=30)
    assert reference.split()[0].lower() in transcript.text.lower()
    assert page.updates()[-1].get("level") == -100  # once the file has played, the meter rests


def test_closing_a_widget_while_it_records_ends_its_session_and_keeps_what_was_heard(ko_clip):
    """close() mid-recording: the session stops (its engine stream closes, nothing runs on in the
    kernel) and the words heard before it are in the transcript."""
    path, _ = ko_clip
    w = LiveTranscriber(language="ko")
    Page(w)
    from_page(w, {"type": "start"})
    for seq, frame in enumerate(audio.frames(audio.load_pcm16(path)[: 16000 * 2 * 5], 100)):
        from_page(w, {"type": "audio", "seq": seq, "t": time.time() * 1000}, [frame])
    wait_until(lambda: w.recording and w.session is not None and w.session.running)
    session, stream = w.session, w.session._stream
    w.close()
    assert not w.recording and not session.running and w.comm is None
    assert stream._closing and session._stream is None  # the engine stream is closed and let go
    assert len(w.transcript.words) >= 3  # the 5 s spoken before close() were heard


def test_opus_from_the_page_is_decoded_in_the_kernel():
    """transport="opus": the page's MediaRecorder chunks (WebM/Opus, 2-4 kB) become the same words."""
    w = LiveTranscriber(language="ko", transport="opus")
    Page(w)
    data = encoded("webm-opus", bit_rate=32000)  # the page's MediaRecorder rate
    from_page(w, {"type": "start"})
    for seq, piece in enumerate(chunks(data)):
        from_page(w, {"type": "audio", "seq": seq, "t": time.time() * 1000, "container": True}, [piece])
    from_page(w, {"type": "stop"})
    wait_until(lambda: w.status == "idle" and not w.recording, timeout=120)
    assert len(data) < len(THREE_SENTENCES) / 6  # what crossed the wire
    assert corpus_cer([THREE_SENTENCES_TEXT], [w.transcript.text]) <= 0.15 and not w.transcript.errors, w.transcript.text
    with pytest.raises(STTError):
        LiveTranscriber(transport="mp3")


def test_the_saved_output_shows_what_was_heard_without_a_kernel(ko_clip):
    """GitHub and nbviewer render no widgets: the output's text/html is a picture of the view."""
    path, reference = ko_clip
    w = LiveTranscriber(language="ko", source=str(path))
    before = w._repr_mimebundle_()[0]
    assert "application/vnd.jupyter.widget-view+json" in before  # the live view, in Jupyter
    assert "nothing recorded" in before["text/html"]
    w.start()
    w.wait(60)
    html = w._repr_mimebundle_()[0]["text/html"]
    shown = re.sub(r"<[^>]+>", " ", html)  # what a sanitizer that strips every tag leaves
    words = w.transcript.words.word.tolist()
    assert words and all(word in shown for word in words)
    assert corpus_cer([reference], ["".join(words)]) <= 0.15
    assert "low &lt;" not in shown and " 1s " not in shown  # the chart's labels stay in the chart
    timeline = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html)[1]).decode()
    assert timeline.count("<rect") == len(words)  # the timeline, an image: one bar per word
    # the live view draws the same from its saved state (a reopened notebook, no kernel to ask)
    assert [f["text"] for f in w._saved["finals"]] == [f.text for f in w.transcript.finals]


def test_missing_microphone_or_file_says_what_to_do():
    w = LiveTranscriber(language="ko", source="sounddevice", device="no such device")
    Page(w)
    w.start()
    wait_until(lambda: w.status == "error")
    assert w.transcript.errors[0].code == "DEVICE_ERROR"
    assert "source='browser'" in w.message
    with pytest.raises(STTError, match="No audio file"):
        LiveTranscriber(source="missing.wav")


def test_bad_options_fail_when_the_widget_is_made():
    with pytest.raises(STTError):
        LiveTranscriber(language="ko", not_an_option=1)
    w = LiveTranscriber(language="ko")
    w.language = "en"
    assert w.engine_name == "whisper"
    with pytest.raises(Exception, match="language"):
        w.language = "xx"
    wait_until(lambda: w.status == "idle", timeout=60)  # whisper loads in the background meanwhile
    assert "LiveTranscriber en whisper from browser, idle" in repr(w)


def test_outbox_keeps_every_final_but_only_the_latest_interim():
    box = Outbox()
    for i in range(50):
        box.add(Interim(f"partial {i}", 0.0, 0.0, i / 10))
    box.add(SpeechStarted(0.1))
    word = Word("안녕", 0.1, 0.5, 0.9)
    box.add(Final("안녕", 0.9, 0.1, 0.5, (word,), speech_final=True))
    box.add(Interim("next", 0.0, 0.6, 0.8))
    box.add(UtteranceEnd(0.5))
    message = box.drain()
    assert message["interim"]["text"] == "next"
    assert [f["text"] for f in message["finals"]] == ["안녕"]
    assert message["finals"][0]["words"] == [["안녕", 0.1, 0.5, 0.9]]
    assert message["marks"] == [["speech_started", 0.1], ["utterance_end", 0.5]]
    assert box.drain() is None
    assert snapshot(Transcript([SpeechStarted(0.1)]))["marks"] == [["speech_started", 0.1]]


def test_an_engine_that_fails_leaves_the_widget_and_its_transcript_usable(ko_clip, monkeypatch, tmp_path):
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env with a key here
    path, reference = ko_clip
    w = LiveTranscriber(language="ko", engine="deepgram")
    page = Page(w)
    speak(w, audio.load_pcm16(path)[:32000], realtime_factor=50)
    wait_until(lambda: w.status == "error" and not w.recording)
    assert w.transcript.errors[0].code == "ENGINE_UNAVAILABLE" and "DEEPGRAM_API_KEY" in w.message
    w.engine = "vosk"  # the next recording uses the offline engine
    speak(w, audio.load_pcm16(path), realtime_factor=20)
    wait_until(lambda: w.status == "idle" and not w.recording)
    assert corpus_cer([reference], ["".join(w.transcript.words.word)]) <= 0.15
    assert [e.code for e in w.transcript.errors] == ["ENGINE_UNAVAILABLE"]  # the earlier failure is still on record
    assert any(m.get("errors") for m in page.updates())


def test_a_file_whose_engine_cannot_start_stops_playing_and_the_next_take_works(en_clip, monkeypatch, tmp_path):
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env with a key here
    path, reference = en_clip
    w = LiveTranscriber(language="en", engine="deepgram", source=str(path))
    Page(w)
    w.start()
    w.wait(30)
    assert not w.recording and w.status == "error" and w.audio_seconds == 0
    assert [e.code for e in w.transcript.errors] == ["ENGINE_UNAVAILABLE"]
    w.engine = "whisper"
    w.start()
    w.wait(60)
    assert w.status == "idle" and w.audio_seconds > 4
    assert reference.split()[0].lower() in w.transcript.text.lower()


class FakePortAudio(types.ModuleType):
    """Stands in for ``sounddevice`` (no microphone exists here): a 44.1 kHz device whose
    callback thread delivers a real clip, then silence, as PortAudio would."""

    RATE = 44100

    def __init__(self, pcm16k: bytes):
        super().__init__("sounddevice")
        import soxr

        speech = np.frombuffer(pcm16k, "<i2").astype(np.float32) / 32768
        self.audio = (soxr.resample(speech, 16000, self.RATE) * 32767).astype("<i2").tobytes()
        self.played = threading.Event()
        self.PortAudioError = RuntimeError

    def query_devices(self, device=None, kind=None):
        if device not in (None, 0, "fake mic"):
            raise ValueError(f"no device {device!r}")
        return {"name": "fake mic", "index": 0, "default_samplerate": float(self.RATE), "max_input_channels": 1}

    def RawInputStream(self, samplerate, channels, dtype, device, blocksize, callback):
        fake = self

        class Stream:
            def __enter__(self):
                self.running = True
                self.thread = threading.Thread(target=self.play, daemon=True)
                self.thread.start()
                return self

            def play(self):
                step = blocksize * 2
                position = 0
                while self.running:
                    block = fake.audio[position:position + step]
                    position += step
                    if len(block) < step:
                        fake.played.set()
                        block += bytes(step - len(block))
                    callback(block, blocksize, None, None)
                    time.sleep(blocksize / samplerate / 4)  # 4x real time

            def __exit__(self, *exc):
                self.running = False
                self.thread.join()

        return Stream()


def test_a_microphone_on_the_kernel_machine_is_resampled_and_transcribed(ko_clip, monkeypatch):
    path, reference = ko_clip
    device = FakePortAudio(audio.load_pcm16(path))
    monkeypatch.setitem(sys.modules, "sounddevice", device)
    w = LiveTranscriber(language="ko", source="sounddevice")
    page = Page(w)
    w.start()
    assert device.played.wait(60)
    transcript = w.stop()
    assert w.status == "idle"
    assert corpus_cer([reference], ["".join(transcript.words.word)]) <= 0.15
    assert any(m.get("level", -100) > -40 for m in page.updates())  # the meter saw speech


LOADING_SCRIPT = """
import json, sys, time
sys.path.insert(0, {root!r})
from stt_notebook import LiveTranscriber, audio
from tests.support import from_page, wait_until
w = LiveTranscriber(language="ko")  # a fresh process: nothing is loaded yet
statuses = [w.status]
w.observe(lambda change: statuses.append(change["new"]), "status")
from_page(w, {{"type": "start"}})  # the person clicks at once and speaks while the model loads
for seq, frame in enumerate(audio.frames(audio.load_pcm16({clip!r}), 100)):
    from_page(w, {{"type": "audio", "seq": seq}}, [frame])
from_page(w, {{"type": "stop"}})
wait_until(lambda: w.status == "idle" and not w.recording)
print(json.dumps({{"statuses": statuses, "words": w.transcript.words.word.tolist()}}, ensure_ascii=False))
"""


def test_the_model_loads_when_the_widget_is_made_and_audio_sent_meanwhile_is_kept(ko_clip):
    import subprocess
    from pathlib import Path

    path, reference = ko_clip
    script = LOADING_SCRIPT.format(root=str(Path(__file__).parents[2]), clip=str(path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["statuses"][0] == "loading"  # the cell says so while the model loads
    assert result["statuses"][-1] == "idle"
    assert corpus_cer([reference], ["".join(result["words"])]) <= 0.15  # nothing sent while loading was lost


def test_the_page_cannot_set_the_kernels_traits():
    """status, frame_ms and engine are the kernel's: a page (or anything speaking its comm) that
    sends a state update changes none of them."""
    w = LiveTranscriber(language="ko", engine="echo")
    wait_until(lambda: w.status != "loading")  # the engine's own load may change it; the page may not
    status = w.status
    w._handle_msg({"content": {"data": {"method": "update", "buffer_paths": [],
                                        "state": {"status": "recording", "frame_ms": -1, "engine": "deepgram"}}}})
    assert (w.status, w.frame_ms, w.engine) == (status, 100, "echo") and status != "recording"
    w.close()


def test_in_a_kernel_traits_change_on_the_kernels_own_thread():
    """The recording runs in a background loop, but every trait the view syncs changes on the
    kernel's main thread (where ipywidgets expects it), and wait() returns with them up to date."""
    import nbclient
    import nbformat

    cells = ("import threading\nfrom stt_notebook import LiveTranscriber, samples\n"
             "w = LiveTranscriber('en', engine='echo', source=samples.path('en'))\n"
             "threads = set()\n"
             "w.observe(lambda change: threads.add(threading.current_thread().name), "
             "names=['status', 'message', 'input_advice', '_saved', 'engine_name'])\n"
             "w.start()",
             "w.wait(120)\nprint(sorted(threads), w.status, len(w.transcript.words) > 0, bool(w._saved))")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert printed.strip() == "['MainThread'] idle True True", printed
