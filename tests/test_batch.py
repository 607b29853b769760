"""transcribe_many on real clips: a process pool, a Dask LocalCluster, a bad file, and a resumed run."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from stt_notebook import transcribe
from stt_notebook.batch import BatchResult, transcribe_many

from tests.support import KO_CLIPS

CLIPS = [KO_CLIPS[i][0] for i in (4, 7, 1)]  # 6.9 s, 8.1 s, 8.8 s


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calls")
    for clip in CLIPS:
        shutil.copy(clip, folder / clip.name)
    (folder / "broken.wav").write_bytes(b"RIFF not really a wav file")
    return folder


@pytest.fixture(scope="module")
def single_file_words():
    return {clip.name: transcribe(clip, "ko", progress=False, interim_results=False).words.word.tolist()
            for clip in CLIPS}


def check(result: BatchResult, single_file_words: dict) -> None:
    words = result.words
    for name, expected in single_file_words.items():
        got = words[words.file.str.endswith(name)].word.tolist()
        assert got == expected, name
    errors = result.errors
    assert errors.file.str.endswith("broken.wav").tolist() == [True]
    assert errors.code.tolist() == ["AUDIO_FORMAT_ERROR"]
    assert set(result.utterances.file) == set(words.file) and len(result.files) == 4


def test_process_pool_gives_the_single_file_words_and_reports_the_bad_file(corpus, single_file_words, tmp_path):
    output = tmp_path / "calls.parquet"
    result = transcribe_many(str(corpus / "*"), language="ko", output=output, workers=2, progress=False)
    check(result, single_file_words)
    # the Parquet tables are what a pandas user reads back
    words = pd.read_parquet(output)
    assert words[["file", "word", "start"]].values.tolist() == result.words[["file", "word", "start"]].values.tolist()
    assert pd.read_parquet(tmp_path / "calls.errors.parquet").code.tolist() == ["AUDIO_FORMAT_ERROR"]
    assert len(pd.read_parquet(tmp_path / "calls.utterances.parquet")) == len(result.utterances)
    assert result.files.audio_seconds.sum() == pytest.approx(6.865 + 8.119 + 8.817, abs=0.05)


def test_dask_local_cluster_gives_the_same_words(corpus, single_file_words):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        result = transcribe_many(sorted(corpus.glob("*")), language="ko", executor=client, progress=False)
    check(result, single_file_words)


def test_an_interrupted_run_resumes_without_redoing_finished_files(corpus, tmp_path):
    output = tmp_path / "calls.jsonl"
    command = [sys.executable, "-m", "stt_notebook.cli", "transcribe-many", str(corpus / "*.flac"),
               "-o", str(output), "--workers", "1", "--no-progress"]
    first = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (output.exists() and output.read_text().count("\n") >= 1):
        assert time.monotonic() < deadline and first.poll() is None, "no file finished"
        time.sleep(0.1)
    first.send_signal(signal.SIGINT)  # Ctrl-C part-way through
    first.wait(60)
    done_first = [json.loads(line)["file"] for line in output.read_text().splitlines()]
    assert 1 <= len(done_first) < len(CLIPS)

    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    files = [r["file"] for r in records]
    assert sorted(files) == sorted(str(corpus / c.name) for c in CLIPS)  # every file once: none redone
    assert files[: len(done_first)] == done_first
    assert len(BatchResult.load(output).words) > 30
