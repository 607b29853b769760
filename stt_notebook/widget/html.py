"""The live view as static HTML, saved with the notebook: GitHub and nbviewer show no widgets, so a
``LiveTranscriber`` output also carries this picture of what it displayed (lines per utterance,
words shaded by confidence, the confidence timeline as SVG). Inline styles only: viewers drop
stylesheets. Pure: text in, text out.
"""

from __future__ import annotations

import base64
from html import escape

from ..events import SpeechStarted, UtteranceEnd, Word, separator
from ..transcript import Transcript

WIDTH, HEIGHT, AXIS = 640, 90, 26


def _word(text: str, start: float, confidence: float, low: float) -> str:
    doubt = 1 - max(0.0, min(1.0, confidence))
    underline = "text-decoration:underline dotted #cf222e;" if confidence < low else ""
    return (f'<span title="{escape(text)}: {confidence:.0%} at {start:.2f}s" '
            f'style="background:rgba(207,34,46,{doubt * 0.35:.3f});border-radius:3px;{underline}">{escape(text)}</span>')


def _timeline(transcript: Transcript, low: float) -> str:
    words = [w for f in transcript.finals for w in f.words]
    marks = [(e.timestamp, "#2ea043", "") for e in transcript.events if isinstance(e, SpeechStarted)]
    marks += [(e.last_word_end, "#6e6e6e", ' stroke-dasharray="3 3"') for e in transcript.events
              if isinstance(e, UtteranceEnd)]
    span = max([w.end for w in words] + [t for t, *_ in marks] + [1.0])
    x = lambda t: AXIS + t / span * (WIDTH - AXIS - 4)  # noqa: E731
    y = lambda c: 4 + (1 - c) * (HEIGHT - 16)  # noqa: E731
    parts = [f'<text x="{AXIS - 4}" y="{y(c) + 3:.1f}" text-anchor="end">{c:.1f}</text>' for c in (0, 0.5, 1)]
    parts.append(f'<line x1="{AXIS}" x2="{WIDTH}" y1="{y(low):.1f}" y2="{y(low):.1f}" stroke="#cf222e" stroke-dasharray="2 3"/>')
    parts.append(f'<text x="{WIDTH - 2}" y="{y(low) - 3:.1f}" text-anchor="end" fill="#cf222e">low &lt; {low:g}</text>')
    for t, color, dash in marks:
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="0" y2="{HEIGHT - 12}" stroke="{color}"{dash}/>')
    for w in words:
        color = "#cf222e" if w.confidence < low else "#0969da"
        parts.append(f'<rect x="{x(w.start):.1f}" y="{y(w.confidence):.1f}" width="{max(2.0, x(w.end) - x(w.start) - 1):.1f}" '
                     f'height="{HEIGHT - 12 - y(w.confidence):.1f}" fill="{color}"/>')
    step = 5 if span > 10 else 1
    parts += [f'<text x="{x(s) + 2:.1f}" y="{HEIGHT - 2}">{s}s</text>' for s in range(0, int(span) + 1, step)]
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'style="font:10px sans-serif;fill:#6e6e6e">{"".join(parts)}</svg>')
    # an image, not inline SVG: JupyterLab's sanitizer strips inline SVG from untrusted outputs (its
    # labels then run into the text) but keeps an <img> and its data URL
    return (f'<img alt="Confidence timeline" width="{WIDTH}" height="{HEIGHT}" '
            f'src="data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}">'
            '<div style="font-size:11px;color:#59636e">bars: word confidence · red dashes: doubtful '
            f'(&lt; {low:g}) · green: speech started · grey dashes: utterance end</div>')


def static_view(transcript: Transcript, status: str, low: float) -> str:
    """What the live view showed, as one self-contained HTML block."""
    lines = []
    for finals in transcript.utterance_finals:
        words = [w for f in finals for w in f.words]
        body = "".join(separator(before.display, w.display) + _word(w.display, w.start, w.confidence, low)
                       for before, w in zip([Word("", 0, 0, 0), *words], words)) or escape(" ".join(f.text for f in finals))
        lines.append(f'<div><span style="font-size:11px;color:#8c959f;margin-right:8px">{finals[0].start:.1f}s</span>'
                     f'{body}</div>')
    errors = "".join(f'<div style="color:#cf222e;font-size:12px">{escape(e.code)}: {escape(e.message)}</div>'
                     for e in transcript.errors[-3:])
    heard = "".join(lines) or '<div style="color:#8c959f">(nothing recorded when this was saved)</div>'
    timeline = _timeline(transcript, low) if transcript.finals else ""
    return ('<div class="stt-live-static" style="font-family:system-ui,\'Noto Sans CJK KR\',sans-serif;'
            'border:1px solid #d0d7de;border-radius:6px;padding:8px;max-width:900px;line-height:1.6">'
            f'<div style="font-size:12px;color:#59636e">LiveTranscriber · {escape(status)} '
            '(a saved picture: run the notebook to record)</div>'
            f'{heard}{timeline}{errors}</div>')
