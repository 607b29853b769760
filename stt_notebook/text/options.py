"""Deepgram's text options, done offline on recognized words: ``replace``, ``search`` and
``profanity_filter``. Pure functions of words."""

from __future__ import annotations

import re
import unicodedata

from dataclasses import replace

from ..events import SearchHit, SearchResult, Word, merged

# A short list per language; Deepgram's own filter is not published. Matched on whole words.
PROFANITY = {
    "en": ("fuck", "fucking", "fucked", "shit", "bitch", "bastard", "asshole", "dick", "cunt", "motherfucker"),
    "ko": ("씨발", "시발", "씨팔", "병신", "개새끼", "좆", "지랄", "새끼", "니미", "썅"),
}


def normal(text: str) -> str:
    """Matching form: lower case, no punctuation, NFC (Hangul compares by syllable)."""
    return re.sub(r"[^\w\s]", "", unicodedata.normalize("NFC", text).lower()).strip()


def parse_pairs(items: tuple[str, ...]) -> list[tuple[str, str]]:
    """Deepgram's ``replace=find:replacement`` (``find:`` alone removes the word)."""
    pairs = []
    for item in items:
        find, _, to = item.partition(":")
        if normal(find):
            pairs.append((normal(find), to.strip()))
    return pairs


def replace_words(words: list[Word], pairs: list[tuple[str, str]]) -> list[Word]:
    """Words (or runs of words) equal to a ``find`` become its replacement, keeping their times."""
    if not pairs:
        return words
    out: list[Word] = []
    i = 0
    while i < len(words):
        for find, to in pairs:
            n = len(find.split())
            if normal(" ".join(w.text for w in words[i:i + n])) == find:
                if to:
                    out.append(merged(words[i:i + n], to))
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out


def censor(words: list[Word], language: str) -> list[Word]:
    """``profanity_filter``: a listed word keeps its first letter, the rest become ``*``."""
    listed = PROFANITY.get(language, ())
    out = []
    for w in words:
        key = normal(w.text)
        hit = next((bad for bad in listed if key == bad or (language == "ko" and key.startswith(bad))), None)
        if hit:
            mask = lambda t: t[0] + "*" * (len(hit) - 1) + t[len(hit):] if t else t  # noqa: E731
            w = replace(w, text=mask(w.text), punctuated=w.punctuated and mask(w.punctuated))
        out.append(w)
    return out


def search(words: list[Word], queries: tuple[str, ...]) -> tuple[SearchResult, ...]:
    """Where each query occurs in these words, as Deepgram's ``search`` results: start/end from the
    words that hold it, confidence theirs (the lowest). Latin queries match whole words; Korean
    ones match inside an eojeol too (``손`` finds ``손을``)."""
    if not queries:
        return ()
    keys = [normal(w.text) for w in words]
    text, owner = "", []
    for k, key in enumerate(keys):
        if text:
            text += " "
            owner.append(k)
        text += key
        owner += [k] * len(key)
    results = []
    for query in queries:
        q = normal(query)
        hits = []
        if q:
            edge = r"\b" if re.match(r"[a-z0-9]", q) else ""
            for m in re.finditer(edge + re.escape(q) + (r"\b" if edge else ""), text):
                held = words[owner[m.start()]:owner[m.end() - 1] + 1]
                hits.append(SearchHit(min(w.confidence for w in held), held[0].start, held[-1].end,
                                      " ".join(w.text for w in held)))
        results.append(SearchResult(query, tuple(hits)))
    return tuple(results)
