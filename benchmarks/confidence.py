"""Does word confidence tell right words from wrong ones? AUROC per engine, and what the text
stage costs per final.

    python benchmarks/confidence.py

Each clip is streamed at full speed; every output word is marked right or wrong by aligning the
hypothesis with the reference (Korean: by characters, spaces and punctuation removed, a word is
right when all its characters align to equal ones; English: by normalised words). AUROC is the
chance that a random right word has a higher confidence than a random wrong one (0.5: no
information). Two ways to calibrate Vosk were measured and not kept (neither helped): the
stability of each token across the partial results (0.810 → 0.811) and agreement among Vosk's
N-best alternatives (0.61–0.78).
"""

from __future__ import annotations

import asyncio
import difflib
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import Final, Session, audio  # noqa: E402
from stt_notebook import text as text_stage  # noqa: E402
from tests.conftest import EN_CLIPS, KO_CLIPS, normalise_en, squash_ko  # noqa: E402


def auroc(scores: list[float], right: list[bool]) -> float:
    """Mann-Whitney U / (n_right * n_wrong), ties counted half."""
    s, r = np.asarray(scores, float), np.asarray(right, bool)
    pos, neg = s[r], s[~r]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def korean_right(words: list[str], reference: str) -> list[bool]:
    hyp = [squash_ko(w) for w in words]
    chars, owner = "".join(hyp), [k for k, w in enumerate(hyp) for _ in w]
    ok = np.zeros(len(chars), bool)
    for block in difflib.SequenceMatcher(None, chars, squash_ko(reference), autojunk=False).get_matching_blocks():
        ok[block.a:block.a + block.size] = True
    return [bool(ok[[i for i, o in enumerate(owner) if o == k]].all()) if hyp[k] else False for k in range(len(hyp))]


def english_right(words: list[str], reference: str) -> list[bool]:
    hyp = [normalise_en(w) for w in words]
    ok = [False] * len(hyp)
    for block in difflib.SequenceMatcher(None, hyp, normalise_en(reference).split(), autojunk=False).get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            ok[i] = True
    return ok


async def words_of(engine: str, language: str, path: Path) -> list:
    t = await Session(engine, language).run(audio.load_pcm16(path))
    return [w for f in t.finals for w in f.words]


def stage_cost(finals: list[Final], language: str, engine: str) -> list[float]:
    from stt_notebook import StreamConfig

    stage = text_stage.TextStage(StreamConfig(language=language), engine)
    costs = []
    for final in finals:
        t = time.perf_counter()
        stage.apply(final)
        costs.append((time.perf_counter() - t) * 1000)
    return costs


def main() -> None:
    for engine, language, clips, judge in (("vosk", "ko", KO_CLIPS, korean_right), ("whisper", "en", EN_CLIPS, english_right)):
        scores, right = [], []
        for path, reference in clips:
            words = asyncio.run(words_of(engine, language, path))
            right += judge([w.text for w in words], reference)
            scores += [w.confidence for w in words]
        wrong = right.count(False)
        print(f"{engine} ({language}), {len(clips)} clips, {len(right)} words, {wrong} wrong: AUROC {auroc(scores, right):.3f}; "
              f"wrong words with confidence >= 0.9: {np.mean([c >= 0.9 for c, r in zip(scores, right) if not r]):.1%}")
    # the text stage's own cost per final, on raw Korean finals (the heaviest: numerals + spacing)
    raw = []
    for path, _ in KO_CLIPS:
        t = asyncio.run(Session("vosk", "ko").run(audio.load_pcm16(path)))
        raw += [Final(" ".join(w.text for w in f.tokens or f.words), f.confidence, f.start, f.end, f.tokens or f.words,
                      True) for f in t.finals]
    costs = stage_cost(raw * 20, "ko", "vosk")
    print(f"text stage per Korean final: p50 {np.percentile(costs, 50):.2f} ms, p99 {np.percentile(costs, 99):.2f} ms "
          f"({len(costs)} finals)")


if __name__ == "__main__":
    main()
