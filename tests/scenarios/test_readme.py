"""The README and ``docs/`` are executed: the README's opening command, every ``python`` block of
both and every line of the README's terminal block run here, so documentation that drifts from
the code fails.

The blocks run in a folder holding the files they name (``interview.flac``, ``talk.wav``,
``call.wav``, ``calls/**/*.wav``), made from the packaged samples. The one thing substituted is
the address of a Jupyter server: the README's ``http://127.0.0.1:8888/`` and token become the
test server's.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from stt_notebook import audio, samples

from tests.support import TOKEN

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = {path.name: path.read_text(encoding="utf-8") for path in sorted((ROOT / "docs").glob("*.md"))}
CLI = str(Path(sys.executable).parent / "stt-notebook")


def blocks(language: str | None = None, section: str | None = None, text: str = README) -> list[str]:
    """Fenced code blocks of the README (or ``text``), by their info string, optionally under one ``## section``."""
    if section is not None:
        start = text.index(f"## {section}")
        end = text.find("\n## ", start + 1)
        text = text[start:end if end > 0 else None]
    found = re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)
    return [body for info, body in found if language is None or info == language]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The files the README's examples name, made from the packaged samples."""
    d = tmp_path_factory.mktemp("readme")
    ko, en = audio.load_audio(samples.path("ko")), audio.load_audio(samples.path("en"))
    shutil.copy(samples.path("ko"), d / "interview.flac")
    sf.write(d / "talk.wav", en, audio.SAMPLE_RATE)
    sf.write(d / "call.wav", ko, audio.SAMPLE_RATE)
    (d / "calls" / "monday").mkdir(parents=True)
    sf.write(d / "calls" / "a.wav", ko[: audio.SAMPLE_RATE * 4], audio.SAMPLE_RATE)
    sf.write(d / "calls" / "monday" / "b.wav", ko, audio.SAMPLE_RATE)
    return d


def at_test_server(text: str, server: dict) -> str:
    text = text.replace("http://127.0.0.1:8888/", server["http"]).replace('token="…"', f'token="{TOKEN}"')
    return re.sub(r"--token \S+", f"--token {TOKEN}", text)


def test_the_opening_commands_are_what_ci_runs():
    opening = blocks("bash")[0].splitlines()
    assert opening[0].startswith("pip install -e . && stt-notebook transcribe ")
    assert opening[1].startswith('pip install -e ".[test]" && python -m pytest ')
    ci = (ROOT / ".ci" / "run").read_text()
    extract = next(line for line in ci.splitlines() if line.startswith("TEST_COMMAND="))
    assert 'eval "$TEST_COMMAND"' in ci  # CI runs the line it reads from the README, in its fresh virtualenv:
    read = subprocess.run(["bash", "-c", f"{extract}; echo \"$TEST_COMMAND\""], cwd=ROOT, capture_output=True, text=True)
    assert read.stdout.strip() == opening[1].split("  ")[0].strip()


def test_the_first_opening_command_transcribes_korean_offline():
    command = blocks("bash")[0].splitlines()[0].split("&&", 1)[1].split("#")[0].split()
    assert command[0] == "stt-notebook"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPGRAM_")}
    done = subprocess.run([CLI, *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.search(r"[\uac00-\ud7a3]{2,}", done.stdout), done.stdout  # Korean words, written out


def test_every_python_block_runs(workdir, server, monkeypatch):
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for name in [k for k in os.environ if k.startswith("DEEPGRAM_")]:
        monkeypatch.delenv(name)
    namespace: dict = {}

    async def run_all() -> None:
        pages = [("README.md", README), *((f"docs/{name}", text) for name, text in DOCS.items())]
        for name, source in [(name, source) for name, text in pages for source in blocks("python", text=text)]:
            code = compile(at_test_server(source, server), name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)  # noqa: S307 - the README's own examples
            if asyncio.iscoroutine(result):
                await result

    asyncio.run(run_all())
    assert re.search(r"[\uac00-\ud7a3]", namespace["t"].text)  # transcribe("interview.flac")
    assert len(namespace["transcript"].words) > 0  # the relay block's transcript
    assert (workdir / "interview.json").is_file() and (workdir / "heard.jsonl").is_file()
    assert set(namespace["batch"].files.file.map(lambda f: Path(f).name)) == {"a.wav", "b.wav"}
    assert namespace["batch"].errors.empty


def test_the_readme_is_a_front_door_and_docs_hold_the_rest():
    assert len(re.findall(r"\S+", README)) <= 1500
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)\)", README))
    assert linked == set(DOCS), "every docs page is linked from the README, and every link has a page"


def test_every_line_of_the_terminal_block_runs(workdir, server):
    lines = [line.split("   #")[0].split("  #")[0].strip()
             for line in blocks("", "From Python and a terminal")[0].splitlines()]
    assert len(lines) >= 6
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPGRAM_")}
    for line in lines:
        args = [a.strip('"') for a in at_test_server(line, server).split()]
        assert args[0] == "stt-notebook", line
        done = subprocess.run([CLI, *args[1:]], cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
    assert "-->" in (workdir / "talk.srt").read_text()
    assert (workdir / "calls.parquet").is_file()


def test_the_notebooks_extra_opens_both_jupyter_uis():
    """The README's `pip install -e ".[notebooks]"` brings JupyterLab and Notebook 7 (its /tree)."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["notebooks"]
    assert {"jupyterlab", "notebook"} <= {re.split(r"[<>=!~\[; ]", r)[0].lower() for r in extra}
