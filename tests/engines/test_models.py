"""Models made from installed packages: Whisper base joined from its two PyPI parts into the
user's cache, checked against its hash, and the language → engine choice it makes possible."""

from __future__ import annotations

import hashlib

import pytest

from stt_notebook.engines import choose_engine_name, default_model, get_engine
from stt_notebook.engines.models import WHISPER_BASE, SplitModelPackage
from stt_notebook.errors import ModelNotFoundError


def fake_parts(tmp_path, monkeypatch, chunks: list[bytes]) -> tuple[str, ...]:
    names = []
    for i, chunk in enumerate(chunks, 1):
        name = f"fake_model_part{i}_{tmp_path.name}"
        data = tmp_path / "site" / name / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{i}").write_bytes(chunk)
        if i == 1:
            (data / "config.json").write_text("{}")
        names.append(name)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tuple(names)


def test_a_split_model_is_joined_once_into_the_cache_and_checked(tmp_path, monkeypatch):
    chunks = [b"first half ", b"second half"]
    modules = fake_parts(tmp_path, monkeypatch, chunks)
    whole = b"".join(chunks)
    package = SplitModelPackage(("a", "b"), modules, len(whole), hashlib.sha256(whole).hexdigest(), "a test")
    folder = package.path()
    assert (folder / "model.bin").read_bytes() == whole and (folder / "config.json").is_file()
    assert folder.is_relative_to(tmp_path / "cache")  # never beside the installed parts
    assert sorted(p.name for p in (tmp_path / "site" / modules[0] / "data").iterdir()) == ["config.json", "model.bin.part1"]
    assert package.path() == folder  # once

    wrong = SplitModelPackage(("a", "b"), modules, len(whole), "0" * 64, "a test")
    with pytest.raises(ModelNotFoundError, match="SHA-256"):
        wrong.path()
    assert SplitModelPackage(("a",), ("no_such_module_here",), 1, "0" * 64, "x").path() is None


def test_whisper_base_serves_korean_and_every_whisper_language_and_tiny_en_english():
    assert WHISPER_BASE.path() is not None
    for language in ("ko", "es", "ja", "multi", "ko-KR"):
        assert choose_engine_name("auto", language, cloud=False) == "whisper"
        assert default_model("whisper", language, None) == "base"
        assert get_engine("auto", language).supports(language)
    assert default_model("whisper", "en", None) == "tiny.en"
    assert not get_engine("whisper", "en").supports("ko")  # tiny.en is English only
