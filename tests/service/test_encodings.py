"""Audio as Deepgram's clients send it: containers found from their bytes (WebM/Opus from a
browser's MediaRecorder, Ogg/Opus, FLAC, MP3, M4A, WAV) and raw encodings (μ-law, A-law) named in
the query, streamed in 2-4 kB chunks to a real ``serve``'s /v1/listen: the same words as PCM16."""

from __future__ import annotations

import contextlib
import json
import random
import urllib.parse

import pytest
import websockets

from stt_notebook import audio
from stt_notebook.incoming import decoder, sniff

from tests.support import (FORMATS, KO_CLIPS, THREE_SENTENCES, THREE_SENTENCES_TEXT, TOKEN, chunks, corpus_cer, encoded,
                           serving)

@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_decodes_as_it_streams(name):
    data = encoded(name)
    raw = FORMATS[name][4]
    d = decoder(raw, FORMATS[name][2], 1)
    streamed = b"".join(d.feed(c) for c in chunks(data))
    pcm = streamed + d.end()
    assert d.error is None and abs(audio.duration(pcm) - audio.duration(THREE_SENTENCES)) < 0.2
    if name != "m4a":  # an MP4 whose index comes last can only be read whole, at the end
        assert audio.duration(streamed) > audio.duration(pcm) - 2.0  # the rest came while it streamed
    assert raw is not None or sniff(data[:12]) is not None


def test_bytes_that_are_not_audio_are_an_error_not_words():
    d = decoder(None)
    assert d.feed(random.Random(1).randbytes(3000)) == b"" and d.end() == b"" and d.error
    d = decoder(None)  # a container's magic, then garbage
    assert d.feed(b"OggS" + random.Random(2).randbytes(3000)) + d.end() == b"" and d.error


@pytest.fixture(scope="module")
def listen():
    with serving() as (port, _):
        yield f"ws://127.0.0.1:{port}/v1/listen"


async def finals_over(url: str, data_chunks: list[bytes], query: dict) -> tuple[str, int | None]:
    heard = []
    async with websockets.connect(f"{url}?{urllib.parse.urlencode({'language': 'ko', **query})}",
                                  additional_headers={"Authorization": f"Token {TOKEN}"}) as ws:
        for piece in data_chunks:
            await ws.send(piece)
        await ws.send(json.dumps({"type": "CloseStream"}))
        with contextlib.suppress(websockets.exceptions.ConnectionClosedError):  # a 1008 is told by its code
            async for message in ws:
                m = json.loads(message)
                if m.get("type") == "Results" and m["is_final"]:
                    heard.append(m["channel"]["alternatives"][0]["transcript"])
    return " ".join(heard), ws.close_code


async def test_v1_listen_hears_each_format_as_it_hears_pcm16(listen):
    pcm16, _ = await finals_over(listen, chunks(THREE_SENTENCES, sample_bytes=2),
                                 {"encoding": "linear16", "sample_rate": 16000})
    baseline = corpus_cer([THREE_SENTENCES_TEXT], [pcm16])
    for name, (_, _, rate, _, encoding) in FORMATS.items():
        query = {"encoding": encoding, "sample_rate": rate} if encoding else {}  # containers: no encoding, as browsers send
        heard, code = await finals_over(listen, chunks(encoded(name), seed=len(name)), query)
        assert code == 1000 and corpus_cer([THREE_SENTENCES_TEXT], [heard]) <= baseline + 0.02, (name, heard, pcm16)
    heard, code = await finals_over(listen, chunks(random.Random(3).randbytes(12000)), {})
    assert heard == "" and code == 1008  # Deepgram's DATA-0000: not audio, no words


async def test_an_encoding_the_server_cannot_read_is_refused_at_the_handshake(listen):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await finals_over(listen, [], {"encoding": "speex"})
    body = json.loads(refused.value.response.body)
    assert refused.value.response.status_code == 400 and "encoding" in body["err_msg"]


RECORDER = """async ([url, key, seconds]) => {
  // what Deepgram's own browser examples do: MediaRecorder's WebM/Opus chunks, straight to /v1/listen
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const ws = new WebSocket(url, ["token", key]);
  const finals = [];
  const done = new Promise((resolve) => {
    ws.onmessage = ({ data }) => {
      const m = JSON.parse(data);
      if (m.type === "Results" && m.is_final) finals.push(m.channel.alternatives[0].transcript);
      if (m.type === "Metadata") resolve();
    };
    ws.onclose = () => resolve();
  });
  await new Promise((resolve) => { ws.onopen = resolve; });
  const recorder = new MediaRecorder(stream, { mimeType: "audio/webm;codecs=opus" });
  recorder.ondataavailable = (e) => { if (e.data.size) ws.send(e.data); };
  recorder.start(250);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.stop();
  await stopped;
  await new Promise((resolve) => setTimeout(resolve, 100));  // the last dataavailable is sent
  ws.send(JSON.stringify({ type: "CloseStream" }));
  await done;
  return { finals, mime: recorder.mimeType };
}"""


def test_a_browser_media_recorder_streams_webm_opus_to_v1_listen(listen, tmp_path):
    from tests.support import CHROMIUM, chromium_page, fake_microphone_wav

    if not __import__("os").path.exists(CHROMIUM):
        pytest.skip("needs Chromium (.ci/run installs it)")
    path, reference = KO_CLIPS[7]
    wav = fake_microphone_wav(path, tmp_path / "mic.wav")
    http = listen.replace("ws://", "http://").replace("/v1/listen", "/health")
    with chromium_page(wav) as page:
        page.goto(http)  # the service's own origin
        got = page.evaluate(RECORDER, [listen + "?language=ko&punctuate=true", TOKEN,
                                       audio.duration(audio.load_pcm16(path)) + 3])
    assert "webm" in got["mime"] and corpus_cer([reference], [" ".join(got["finals"])]) <= 0.15, got


async def test_ws_stt_reads_a_container_from_its_bytes_and_raw_encodings_it_is_told(listen):
    """The relay's wire too: WebM/Opus sent after a plain start (found from its first bytes), and
    μ-law at 8 kHz named in the start; garbage after a container's start is a coded error."""
    relay = listen.replace("/v1/listen", f"/ws/stt?token={TOKEN}")

    async def over_relay(config: dict, pieces: list[bytes]) -> tuple[str, list[str]]:
        async with websockets.connect(relay) as ws:
            await ws.send(json.dumps({"type": "start_transcription", "config": {"language": "ko", **config}}))
            for piece in pieces:
                await ws.send(piece)
            await ws.send(json.dumps({"type": "stop_transcription"}))
            frames = []
            while (frame := json.loads(await ws.recv()))["type"] != "transcription_stopped":
                frames.append(frame)
        return (" ".join(f["text"] for f in frames if f["type"] == "transcript_final"),
                [f["code"] for f in frames if f["type"] == "error"])

    for config, name in (({}, "webm-opus"), ({"encoding": "mulaw", "sample_rate": 8000}, "mulaw-8k")):
        heard, errors = await over_relay(config, chunks(encoded(name)))
        assert errors == [] and corpus_cer([THREE_SENTENCES_TEXT], [heard]) <= 0.15, (name, heard)
    heard, errors = await over_relay({"encoding": None}, chunks(random.Random(4).randbytes(9000)))
    assert heard == "" and errors == ["AUDIO_FORMAT_ERROR"]
