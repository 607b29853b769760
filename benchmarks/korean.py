"""Korean as people record it: CER of the finals (and of the last interim before each final) on a
corpus read at run time, for each engine, through ``Session`` (the path the widget, the relay and
/v1/listen share), live at real time or at full speed; with first-interim and final latencies.

    python benchmarks/korean.py --corpus ../shared/speech --set deeply_korean_read_dev
    python benchmarks/korean.py --corpus ../shared/speech --set zeroth --engines vosk,whisper --realtime

The corpus is read where it lies (``INDEX.tsv`` beside its clips); nothing is copied.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import resource
import statistics
import time
from pathlib import Path

import sys

import jiwer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import Final, Interim, Session, audio  # noqa: E402
from tests.support import auroc, korean_right, squash_ko as squash  # noqa: E402


def clips(corpus: Path, subset: str, limit: int | None) -> list[tuple[Path, str]]:
    with open(corpus / "INDEX.tsv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["lang"] == "ko" and subset in r["source"]]
    return [(corpus / r["path"], r["reference"]) for r in rows][:limit]


async def run(pcm: bytes, engine: str, model: str | None, realtime: bool) -> dict:
    session = Session("ko", engine=engine, model=model, interim_results=True, vad_events=True)
    events: list[tuple[float, object]] = []
    t0 = time.monotonic()
    session.subscribe(lambda e: events.append((time.monotonic() - t0, e)))
    await session.start()
    t0 = time.monotonic()
    for frame in audio.frames(pcm, 100):
        if realtime:
            await asyncio.sleep(max(0.0, session.audio_seconds - (time.monotonic() - t0)))
        await session.send(frame)
    await session.stop()
    finals = [e for _, e in events if isinstance(e, Final)]
    last_interims, pending = [], None
    for _, e in events:
        if isinstance(e, Interim):
            pending = e.text
        elif isinstance(e, Final) and e.text:
            last_interims.append(pending or "")
            pending = None
    first_interim = next((t - e.start for t, e in events if isinstance(e, (Interim, Final)) and e.text), None)
    final_lag = [t - e.end for t, e in events if isinstance(e, Final) and e.speech_final and e.text]
    interim_lag = [t - e.end for t, e in events if isinstance(e, Interim) and e.text]  # the words' audio → shown
    words = [w for f in finals for w in f.words]
    return {"final": " ".join(f.text for f in finals), "interim": " ".join(last_interims), "words": words,
            "first": first_interim, "final_lag": final_lag, "interim_lag": interim_lag, "elapsed": time.monotonic() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path(__file__).parents[2] / "shared" / "speech")
    parser.add_argument("--set", default="deeply_korean_read_dev", help="a source name in INDEX.tsv (substring)")
    parser.add_argument("--engines", default="vosk,whisper:base", help="engine[:model], comma-separated")
    parser.add_argument("--realtime", action="store_true", help="paced like a microphone (default: full speed)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--streams", type=int, default=1, help="each clip as this many concurrent streams")
    args = parser.parse_args()
    corpus = clips(args.corpus, args.set, args.limit)
    seconds = sum(audio.duration(audio.load_pcm16(p)) for p, _ in corpus)
    print(f"{len(corpus)} clips of {args.set}, {seconds:.0f} s, {'real time' if args.realtime else 'full speed'}, "
          f"{args.streams} stream(s) at once")
    for spec in args.engines.split(","):
        engine, _, model = spec.partition(":")
        results, refs = [], []
        cpu = time.process_time()
        for path, reference in corpus:
            pcm = audio.load_pcm16(path)

            async def together() -> list[dict]:
                return await asyncio.gather(*(run(pcm, engine, model or None, args.realtime)
                                              for _ in range(args.streams)))

            results += asyncio.run(together())
            refs += [squash(reference)] * args.streams
        cpu = time.process_time() - cpu
        final_cer = jiwer.cer(refs, [squash(r["final"]) or "-" for r in results])
        interim_cer = jiwer.cer(refs, [squash(r["interim"]) or "-" for r in results])
        confidence = [w.confidence for r in results for w in r["words"]]
        references = [reference for _, reference in corpus for _ in range(args.streams)]
        right = [ok for r, reference in zip(results, references) for ok in korean_right([w.text for w in r["words"]], reference)]
        firsts = [r["first"] for r in results if r["first"] is not None]
        lags = sorted(x for r in results for x in r["final_lag"])
        p95 = lags[int(0.95 * (len(lags) - 1))] if lags else float("nan")
        interim_lags = [x for r in results for x in r["interim_lag"]]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{spec:14} final CER {final_cer:.3f}  last-interim CER {interim_cer:.3f}  "
              f"first text p50 {statistics.median(firsts) if firsts else float('nan'):.2f} s  "
              f"interim lag p50 {statistics.median(interim_lags) if interim_lags else float('nan'):.2f} s  "
              f"final lag p50 {statistics.median(lags) if lags else float('nan'):.2f} s / p95 {p95:.2f} s  "
              f"CPU {cpu / seconds / args.streams:.2f} s per audio s per stream  peak RSS {rss:.0f} MB  "
              f"confidence AUROC {auroc(confidence, right):.3f}")


if __name__ == "__main__":
    main()
