import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from stt_notebook import audio
from stt_notebook.errors import AudioError, AudioFileNotFoundError, EmptyAudioError

from tests.support import KO_CLIPS


def test_flac_decodes_to_16k_mono_float():
    path = KO_CLIPS[0][0]
    x = audio.load_audio(path)
    info = sf.info(str(path))
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) / 16000 - info.duration) < 0.01


def test_44k_stereo_wav_is_downmixed_and_resampled(tmp_path):
    x16 = audio.load_audio(KO_CLIPS[0][0])
    x44 = audio.resample(x16, 16000, 44100)
    stereo = np.stack([x44, x44 * 0.5], axis=1)
    path = tmp_path / "stereo44.wav"
    sf.write(path, stereo, 44100, subtype="PCM_16")
    back = audio.load_audio(path)
    assert abs(len(back) - len(x16)) <= 2
    n = min(len(back), len(x16))
    corr = np.corrcoef(back[:n], x16[:n] * 0.75)[0, 1]
    assert corr > 0.99  # a real filter keeps the speech intact


def test_mp3_and_ogg_decode(tmp_path):
    x = audio.load_audio(KO_CLIPS[0][0])[:32000]
    for ext, fmt, subtype in (("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III")):
        path = tmp_path / f"clip.{ext}"
        sf.write(path, x, 16000, format=fmt, subtype=subtype)
        y = audio.load_audio(path)
        assert abs(len(y) - len(x)) < 2000


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary to make an M4A fixture")
def test_m4a_goes_through_pyav(tmp_path):
    path = tmp_path / "clip.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(KO_CLIPS[0][0]), "-t", "2", "-c:a", "aac", str(path)],
                   check=True)
    y = audio.load_audio(path)
    assert 1.9 < len(y) / 16000 < 2.2


def test_missing_file_is_a_file_not_found(tmp_path):
    with pytest.raises(AudioFileNotFoundError) as e:
        audio.load_audio(tmp_path / "nope.wav")
    assert isinstance(e.value, FileNotFoundError) and e.value.code == "FILE_NOT_FOUND"


def test_not_audio_and_empty_files(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all\n" * 50)
    with pytest.raises(AudioError) as e:
        audio.load_audio(text)
    assert e.value.code == "AUDIO_FORMAT_ERROR"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudioError):
        audio.load_audio(empty)


def test_pcm16_round_trip_and_odd_bytes():
    x = np.sin(np.linspace(0, 100, 1600)).astype(np.float32) * 0.5
    pcm = audio.float_to_pcm16(x)
    assert len(pcm) == 3200
    assert np.max(np.abs(audio.pcm16_to_float(pcm) - x)) < 1e-4
    with pytest.raises(AudioError):
        audio.pcm16_to_float(pcm[:-1])


def test_frames_and_level():
    pcm = audio.float_to_pcm16(np.ones(16000 * 3 // 2, np.float32) * 0.5)
    sizes = [len(f) for f in audio.frames(pcm, 100)]
    assert sizes == [3200] * 15
    assert -6.5 < audio.level_dbfs(pcm) < -5.5
    assert audio.level_dbfs(b"\x00\x00" * 100) == float("-inf")


def test_array_to_pcm16_accepts_int16_and_rates():
    x = (np.sin(np.arange(48000) / 10) * 10000).astype(np.int16)
    pcm = audio.array_to_pcm16(x, 48000)
    assert len(pcm) == 16000 * 2
    with pytest.raises(EmptyAudioError):
        audio.array_to_pcm16(np.zeros(0))
