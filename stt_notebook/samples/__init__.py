"""Two short clips of real speech shipped with the package, for first runs and notebooks.

    from stt_notebook import samples
    samples.path("ko"), samples.reference("ko")

Origins and licences: ``ATTRIBUTION.md`` in this folder.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
REFERENCES = {
    "ko": "만약 박근혜 대통령이 정말 로 손 을 내밀 면 안철수 대표와 국민의당 은 어떤 선택 을 할까요",
    "en": "And so my fellow Americans, ask not what your country can do for you, "
          "ask what you can do for your country.",
}


def path(language: str = "ko") -> Path:
    """The sample clip for ``language`` ("ko": 8.1 s Zeroth-Korean; "en": 11 s JFK, 1961)."""
    if language not in REFERENCES:
        raise ValueError(f"No sample for {language!r}; there are: {', '.join(REFERENCES)}.")
    return HERE / f"{language}.flac"


def reference(language: str = "ko") -> str:
    """What is said in the sample, as its source transcribed it."""
    path(language)
    return REFERENCES[language]
