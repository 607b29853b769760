"""Written Korean from a recognizer's tokens: numerals where the recognizer marked numbers, and
standard spacing (eojeol) restored with kiwipiepy, merged back into timed words.

The Vosk Korean model writes morphemes apart (``정말 로 손 을``), marks a spoken digit as ``[3]``
and a number word as ``(천)``. Only runs holding such a mark become digits: an unmarked ``이``
is as often a particle as a two.
"""

from __future__ import annotations

import collections
import concurrent.futures
import re
import threading
from dataclasses import replace
from typing import Iterable

from .. import loaded
from ..events import Word, merged

DIGITS = {"영": 0, "공": 0, "일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "륙": 6, "칠": 7, "팔": 8, "구": 9}
SMALL_UNITS = {"십": 10, "백": 100, "천": 1000}
BIG_UNITS = {"만": 10**4, "억": 10**8, "조": 10**12}
# what a number reads with, attached to it as written Korean does (3월, 2018년, 5명)
COUNTERS = ("년", "월", "일", "시", "분", "초", "명", "개", "원", "번", "살", "세", "차", "회", "층", "호", "주", "달",
            "대", "권", "장", "쪽", "위", "배", "퍼센트", "도", "킬로", "미터", "센티", "그램", "달러", "인분", "건")

_BRACKETED = re.compile(r"^\[(\d+)\]$")
_PARENTHESISED = re.compile(r"^\(([^()]+)\)$")
_LEFTOVER = re.compile(r"<[^>]*>|[\[\]()]")
_MARKS = frozenset("[]()<>")
RECENT = 256  # texts whose spacing the Spacer keeps (every session in the process shares it)


def sino_korean(n: int) -> str:
    """3 → 삼, 2018 → 이천십팔, 10000 → 만: how a Korean reads a number aloud."""
    if n == 0:
        return "영"
    names = "영일이삼사오육칠팔구"

    def below_10000(k: int) -> str:
        out = []
        for unit, value in (("천", 1000), ("백", 100), ("십", 10)):
            d, k = divmod(k, value)
            if d:
                out.append(("" if d == 1 else names[d]) + unit)
        return "".join(out) + (names[k] if k else "")

    out = []
    for unit, value in (("조", 10**12), ("억", 10**8), ("만", 10**4)):
        d, n = divmod(n, value)
        if d:
            out.append(("" if d == 1 and unit == "만" else below_10000(d)) + unit)
    return "".join(out) + (below_10000(n) if n else "")


def parse_sino_korean(text: str) -> int | None:
    """이천십팔 → 2018; None when ``text`` is not a well-formed Sino-Korean numeral."""
    if not text:
        return None
    total, group, digit = 0, 0, None
    last_small, last_big = 10**5, 10**13
    for ch in text:
        if ch in DIGITS:
            if digit is not None:
                return None  # two digits in a row: not one number
            digit = DIGITS[ch]
        elif ch in SMALL_UNITS:
            value = SMALL_UNITS[ch]
            if value >= last_small:
                return None
            group += (1 if digit is None else digit) * value
            digit, last_small = None, value
        elif ch in BIG_UNITS:
            value = BIG_UNITS[ch]
            if value >= last_big:
                return None
            group += digit or 0
            total += (group or 1) * value
            group, digit, last_small, last_big = 0, None, 10**5, value
        else:
            return None
    return total + group + (digit or 0)


def _marked(token: str) -> str | None:
    """The Hangul reading of a token the recognizer marked as a number, else None."""
    if not token.startswith(("[", "(")):
        return None
    if m := _BRACKETED.match(token):
        return sino_korean(int(m.group(1)))
    if (m := _PARENTHESISED.match(token)) and parse_sino_korean(m.group(1)) is not None:
        return m.group(1)
    return None


def plain(token: str) -> str:
    """A token with the recognizer's marks read back as Hangul (``[3]`` → 삼); '' to drop it."""
    if _MARKS.isdisjoint(token):
        return token.strip()
    if (reading := _marked(token)) is not None:
        return reading
    return _LEFTOVER.sub("", _PARENTHESISED.sub(lambda m: m.group(1), token)).strip()


def plain_word(word: Word) -> Word:
    text = plain(word.text)
    return word if text == word.text else replace(word, text=text)


_DIGITS = re.compile(r"\d{1,15}")


def spoken(word: Word) -> Word:
    """A word as said, for ``numerals=false``: marks read back, and the digits a recognizer that
    writes Korean (Whisper) put there read as Sino-Korean (``3월`` → ``삼월``)."""
    word = plain_word(word)
    read = lambda text: _DIGITS.sub(lambda m: sino_korean(int(m.group())), text)  # noqa: E731
    text = read(word.text)
    if text == word.text:
        return word
    return replace(word, text=text, punctuated=read(word.punctuated) if word.punctuated else None)


def numerals(tokens: Iterable[Word]) -> list[Word]:
    """Marked number runs as digits, their counter attached: ``[3] 월`` → ``3월``,
    ``이 (천) (십) 팔 년`` → ``2018년``. Unmarked tokens are never read as numbers."""
    tokens = list(tokens)
    marks = [_marked(t.text) for t in tokens]
    out: list[Word] = []
    i, prev_plain = 0, False  # prev_plain: out[-1] is tokens[i - 1], as it was
    while i < len(tokens):
        if marks[i] is None:
            out.append(plain_word(tokens[i]))
            i, prev_plain = i + 1, True
            continue
        start, end = i, i + 1  # the run [start, end): marked tokens and the bare numerals they bind
        while end < len(tokens) and marks[end] is not None:
            end += 1
        reading = lambda a, b: "".join(marks[k] or tokens[k].text for k in range(a, b))  # noqa: E731
        if (prev_plain and tokens[start - 1].text in DIGITS and reading(start, end)[0] in SMALL_UNITS
                and parse_sino_korean(reading(start - 1, end)) is not None):
            start -= 1  # 이 (천) …: a digit before a marked unit multiplies it
            out.pop()
        while end < len(tokens) and tokens[end].text and all(c in DIGITS or c in SMALL_UNITS for c in tokens[end].text) \
                and parse_sino_korean(reading(start, end + 1)) is not None:
            end += 1  # … (십) 팔: the ones after the marked units
        prev_plain = False
        value = parse_sino_korean(reading(start, end))
        if value is None:  # marks that do not make one number: read them as words
            out += [plain_word(t) for t in tokens[start:end]]
            i = end
            continue
        run = tokens[start:end]
        text = str(value)
        if end < len(tokens) and tokens[end].text.startswith(COUNTERS):
            run, text = run + [tokens[end]], text + plain(tokens[end].text)
            end += 1
        out.append(merged(run, text))
        i = end
    return [w for w in out if w.text]


class Spacer:
    """Standard spacing for Korean text (kiwipiepy), loaded once per process: ~1 s to load and
    ~1.5 s for its first sentence, so it loads beside the engine, never on a user's words."""

    def __init__(self) -> None:
        from kiwipiepy import Kiwi

        self._kiwi = Kiwi(load_typo_dict=False, load_multi_dict=False)  # 0.8 s to load, not 2.2 s; same spacing here
        self._use = threading.Lock()  # one analysis at a time per process (sessions run in several threads)
        # a live final mostly repeats its last interim's text (6 of the 10 Zeroth clips), and
        # interims repeat each other: those are spaced once (Kiwi takes 1-2 ms a sentence here)
        self._recent: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.space("안녕 하세요")

    @classmethod
    def loading(cls) -> concurrent.futures.Future:
        """The process's spacer, loading in its own thread (started by the first call)."""
        return loaded.loading("kiwi-spacer", cls, name="stt-load-kiwi")

    @classmethod
    def shared(cls) -> "Spacer":
        return cls.loading().result()

    def space(self, text: str) -> str:
        with self._use:
            if (spaced := self._recent.get(text)) is None:
                spaced = self._recent[text] = self._kiwi.space(text, reset_whitespace=False).strip()
                if len(self._recent) > RECENT:
                    self._recent.popitem(last=False)
            else:
                self._recent.move_to_end(text)
            return spaced


def spaced_words(words: list[Word], spacer: Spacer) -> list[Word]:
    """``words`` re-cut at the spaces of written Korean: tokens joined into eojeol (start of the first,
    end of the last, the lowest confidence), a token split where spacing splits it (times shared by
    its characters). Characters never change; if the spacer changed any, the words stay as they were."""
    if not words:
        return words
    spaced = spacer.space(" ".join(w.text for w in words))
    if spaced.replace(" ", "") != "".join(w.text for w in words):
        return words
    out: list[Word] = []
    k, c = 0, 0  # the word and character where the next piece starts
    for piece in spaced.split():
        if c == 0 and piece == words[k].text:  # the token is the eojeol (most are)
            out.append(words[k])
            k += 1
            continue
        first, a = k, c
        remaining = len(piece)
        while True:  # walk the piece's characters through the words
            take = min(remaining, len(words[k].text) - c)
            c, remaining = c + take, remaining - take
            if not remaining:
                break
            k, c = k + 1, 0
        last, b = k, c
        if c == len(words[k].text):
            k, c = k + 1, 0
        out.append(merged(words[first:last + 1], piece, _at(words[first], a), _at(words[last], b)))
    return out


def _at(word: Word, i: int) -> float:
    """The time of character ``i`` of ``word``, its characters sharing its time evenly."""
    return round(word.start + (word.end - word.start) * i / len(word.text), 3)
