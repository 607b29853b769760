"""``transcribe_many``: a corpus of recordings → one set of DataFrames, on any executor.

Each file goes through :func:`stt_notebook.transcribe` on a worker (the one Session path); a
worker process loads its model once and keeps it for every file it is given. A file that fails
is a row in ``errors``, never an aborted batch. With ``output=`` every finished file is appended
to a JSONL journal at once, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import concurrent.futures as cf
import glob
import json
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .errors import ErrorCode, STTError
from .transcript import UTTERANCE_COLUMNS, WORD_COLUMNS, Transcript

FILE_COLUMNS = ["file", "audio_seconds", "elapsed_seconds", "n_utterances", "n_words", "error"]
ERROR_COLUMNS = ["file", "code", "message"]


def expand_paths(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """A glob pattern (``**`` recurses), a file, or an iterable of them → file paths, in order."""
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    out: list[str] = []
    for item in map(os.fspath, items):
        matches = sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]
        out.extend(m for m in matches if not os.path.isdir(m))
    return list(dict.fromkeys(out))


def transcribe_file(path: str, language: str, engine: str, model: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """One file, on a worker: a journal record (the transcript's JSON form, or the error)."""
    from . import audio
    from .api import transcribe

    started = time.perf_counter()
    record: dict[str, Any] = {"file": path, "error": None, "audio_seconds": None}
    try:
        pcm = audio.load_pcm16(path)
        record["audio_seconds"] = round(audio.duration(pcm), 3)
        transcript = transcribe(pcm, language, engine=engine, model=model, progress=False, **options)
        transcript.source = os.path.basename(path)
    except STTError as e:
        record["error"] = {"code": e.code, "message": str(e)}  # message and hint
        transcript = getattr(e, "transcript", None)  # words heard before an engine failed are kept
    except Exception as e:  # a crash on one file is that file's error row
        record["error"] = {"code": ErrorCode.ENGINE_ERROR, "message": f"{type(e).__name__}: {e}"}
        transcript = None
    record["elapsed_seconds"] = round(time.perf_counter() - started, 3)
    record["transcript"] = transcript.to_dict() if transcript is not None else None
    return record


@dataclass
class BatchResult:
    """What a batch produced. ``words``, ``utterances``, ``errors`` and ``files`` are DataFrames,
    each with a ``file`` column; ``transcripts`` maps each file to its Transcript."""

    records: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def transcripts(self) -> dict[str, Transcript]:
        return {r["file"]: Transcript.from_json(r["transcript"]) for r in self.records if r.get("transcript")}

    def _table(self, attribute: str, columns: list[str]) -> pd.DataFrame:
        frames = [getattr(t, attribute).assign(file=f) for f, t in self.transcripts.items()]
        frames = [f for f in frames if len(f)]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns + ["file"])
        return table[["file"] + columns]

    @property
    def words(self) -> pd.DataFrame:
        return self._table("words", WORD_COLUMNS)

    @property
    def utterances(self) -> pd.DataFrame:
        return self._table("utterances", UTTERANCE_COLUMNS)

    @property
    def errors(self) -> pd.DataFrame:
        rows = [{"file": r["file"], **r["error"]} for r in self.records if r.get("error")]
        return pd.DataFrame(rows, columns=ERROR_COLUMNS)

    @property
    def files(self) -> pd.DataFrame:
        rows = []
        for r in self.records:
            t = self.transcripts.get(r["file"])
            rows.append({"file": r["file"], "audio_seconds": r.get("audio_seconds"),
                         "elapsed_seconds": r.get("elapsed_seconds"),
                         "n_utterances": len(t.utterances) if t else 0, "n_words": len(t.words) if t else 0,
                         "error": (r.get("error") or {}).get("code")})
        return pd.DataFrame(rows, columns=FILE_COLUMNS)

    def __repr__(self) -> str:
        failed = sum(1 for r in self.records if r.get("error"))
        hours = sum(r.get("audio_seconds") or 0 for r in self.records) / 3600
        return f"<BatchResult {len(self.records)} files: {len(self.records) - failed} done, {failed} failed, {hours:.2f} h audio>"

    def save(self, path: str | os.PathLike) -> None:
        """Parquet (``x.parquet`` words, ``x.utterances.parquet``, ``x.errors.parquet``) or JSONL."""
        path = Path(path)
        if path.suffix == ".parquet":
            self.words.to_parquet(path, index=False)
            self.utterances.to_parquet(_sibling(path, "utterances"), index=False)
            self.errors.to_parquet(_sibling(path, "errors"), index=False)
        else:
            with open(path, "w", encoding="utf-8") as f:
                for record in self.records:
                    f.write(json.dumps(record, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, output: str | os.PathLike) -> "BatchResult":
        """The records an ``output=`` run wrote (its JSONL journal), last record per file winning."""
        return cls(list(_read_journal(journal_path(output)).values()))


def journal_path(output: str | os.PathLike) -> Path:
    """Where finished files are appended: the output itself for JSONL, ``x.progress.jsonl`` for Parquet."""
    output = Path(output)
    return _sibling(output, "progress", ".jsonl") if output.suffix == ".parquet" else output


def _sibling(path: Path, part: str, suffix: str | None = None) -> Path:
    return path.with_name(f"{path.stem}.{part}{suffix or path.suffix}")


def _read_journal(path: Path) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interruption: that file is redone
            records[record["file"]] = record
    return records


def _batch_worker() -> None:
    from .engines import vosk

    vosk.POOL_SPARES = 0  # a batch process runs one stream at a time: no recognizers to keep warm


def default_executor(workers: int | None = None) -> cf.Executor:
    """A process pool sized to the machine (spawned: engine threads never cross a fork), its
    workers set up for batch work."""
    return cf.ProcessPoolExecutor(workers or os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_batch_worker)


def transcribe_many(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike], language: str = "ko", *,
                    engine: str = "auto", model: str | None = None, executor: Any = None,
                    output: str | os.PathLike | None = None, workers: int | None = None, progress: bool = True,
                    **options: Any) -> BatchResult:
    """Transcribe every file; returns a :class:`BatchResult` (``.words``, ``.utterances``, ``.errors``).

    ``executor``: any ``concurrent.futures.Executor`` (default: a process pool of ``workers``), or a
    ``distributed.Client`` (its ``get_executor()`` is used). ``output``: a ``.parquet`` or ``.jsonl``
    path; finished files are recorded as they complete, and a rerun skips files already done (failed
    ones are tried again). ``options`` are Deepgram-named stream options; interim results are off
    unless asked for, since nobody watches them.
    """
    files = expand_paths(paths_or_glob)
    if not files:  # a pattern that matched nothing is a mistake, not an empty corpus
        given = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else paths_or_glob
        named = ", ".join(map(os.fspath, given)) if isinstance(given, (list, tuple)) else "the paths given"
        raise STTError(f"No audio files match {named[:200]!r}.", code=ErrorCode.FILE_NOT_FOUND,
                       hint="Check the pattern (quote it so the shell does not expand it; ** recurses).")
    options.setdefault("interim_results", False)
    journal = journal_path(output) if output is not None else None
    done = {f: r for f, r in _read_journal(journal).items() if not r.get("error")} if journal else {}
    todo = [f for f in files if f not in done]
    records = {f: done[f] for f in files if f in done}

    own_executor = executor is None
    if own_executor:
        executor = default_executor(min(workers or os.cpu_count() or 1, max(1, len(todo))))
    elif hasattr(executor, "get_executor"):  # a dask.distributed Client
        executor = executor.get_executor()
    from tqdm.auto import tqdm

    bar = tqdm(total=len(files), initial=len(records), unit="file", desc=f"transcribe_many ({engine})",
               disable=not progress)
    log = open(journal, "a", encoding="utf-8") if journal else None
    futures = {executor.submit(transcribe_file, f, language, engine, model, options): f for f in todo}
    try:
        for future in cf.as_completed(futures):
            path = futures[future]
            try:
                record = future.result()
            except Exception as e:  # the worker itself died (killed, out of memory)
                record = {"file": path, "transcript": None, "audio_seconds": None,
                          "error": {"code": ErrorCode.ENGINE_ERROR, "message": f"worker failed: {type(e).__name__}: {e}"}}
            records[path] = record
            if log is not None:
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
                log.flush()
            bar.update(1)
    finally:
        for future in futures:
            future.cancel()
        bar.close()
        if log is not None:
            log.close()
        if own_executor:
            executor.shutdown(wait=True, cancel_futures=True)
    result = BatchResult([records[f] for f in files if f in records])
    if output is not None and Path(output).suffix == ".parquet":
        result.save(output)
    return result
