// The service's page: the notebook widget's own live view (live.js), its model spoken over /ws/stt
// with binary PCM16 frames instead of a Jupyter comm. One view, two hosts.
import live from "./widget/live.js";

const params = new URLSearchParams(location.search);
const TOKEN = "stt-notebook-token";
let token = params.get("token") ?? sessionStorage.getItem(TOKEN) ?? "";
const login = document.getElementById("login");

function showLogin(why) {
  login.hidden = false;
  login.querySelector("p").textContent = why;
  login.querySelector("input").focus();
}

const authorized = (t) => fetch(new URL("info", location.href), { headers: t ? { Authorization: `token ${t}` } : {} })
  .then((r) => r.status !== 401 && r.status !== 403);

login.addEventListener("submit", async (event) => {   // the token is checked now, not at the first Start
  event.preventDefault();
  const given = new FormData(login).get("token");
  if (!(await authorized(given))) return showLogin("That token was refused.");
  token = given;
  sessionStorage.setItem(TOKEN, token);
  login.hidden = true;
  model.tell({ clear_errors: true });
});

// what was heard survives a reload: the view's own messages, kept in this browser
const SAVED = "stt-notebook-transcript";
const saved = (() => { try { return JSON.parse(localStorage.getItem(SAVED)) ?? null; } catch { return null; } })();

// codes by which the server refused to start a session: nothing is recording
const REFUSED = new Set(["UNKNOWN_ENGINE", "UNSUPPORTED_LANGUAGE", "MODEL_NOT_FOUND", "INVALID_CONFIG",
  "ENGINE_UNAVAILABLE", "TOO_MANY_SESSIONS", "AUTH_ERROR"]);
const wordView = (w) => [w.punctuated_word ?? w.word, w.start, w.end, w.confidence];

class SocketModel {
  constructor(state) {
    this.state = state;
    this.handlers = new Map();
    this.ws = null;
    this.pending = [];     // audio captured before the socket opened
    this.utterance = 0;    // one line per utterance, as the widget draws them
    this.offset = 0;       // recordings continue the page's timeline
  }
  get(name) { return this.state[name]; }
  set(name, value) { this.state[name] = value; this.emit(`change:${name}`); }
  on(event, handler) { if (!this.handlers.has(event)) this.handlers.set(event, []); this.handlers.get(event).push(handler); }
  emit(event, arg) { for (const handler of this.handlers.get(event) ?? []) handler(arg); }
  tell(update) {
    this.emit("msg:custom", { type: "update", ...update });
    if (update.finals || update.marks) this.keep(update);
  }

  keep(update) {                           // finals and marks, with where the timeline goes on
    const kept = (this.kept ??= { finals: [], marks: [] });
    kept.finals.push(...(update.finals ?? []));
    kept.marks.push(...(update.marks ?? []));
    Object.assign(kept, { offset: this.offset, utterance: this.utterance });
    try { localStorage.setItem(SAVED, JSON.stringify(kept)); } catch { /* full or blocked: the view still shows it */ }
  }

  send(msg, _callbacks, buffers) {       // what the view sends the kernel, said to the server
    if (msg.type === "start") this.open();
    else if (msg.type === "audio") {
      for (const buffer of buffers ?? []) {
        if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(buffer);
        else if (this.ws) this.pending.push(buffer);
      }
    } else if (msg.type === "stop") {
      if (this.ws?.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify({ type: "stop_transcription" }));
        this.set("status", "stopping");
      }
    } else if (msg.type === "error") this.set("status", "error");
  }

  open() {
    const url = new URL("ws/stt", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (token) url.searchParams.set("token", token);
    const ws = (this.ws = new WebSocket(url));
    ws.binaryType = "arraybuffer";
    let opened = false;
    this.set("status", "starting");
    ws.onopen = () => {
      opened = true;
      const config = { language: this.get("language"), engine: this.get("engine") };
      ws.send(JSON.stringify({ type: "start_transcription", config }));
      for (const buffer of this.pending.splice(0)) ws.send(buffer);
      this.set("status", "recording");
      this.tell({ clear_errors: true });
    };
    ws.onmessage = ({ data }) => this.receive(JSON.parse(data));
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.pending = [];
      if (!opened) {
        const message = "The server refused the connection: log in with a valid token.";
        this.tell({ errors: [{ code: "AUTH_ERROR", message }] });
        this.set("status", "error");
        showLogin(message);
      } else if (event.code === 1001) {
        this.tell({ errors: [{ code: "SERVER_STOPPING", message: "The server is shutting down; what you said was finalized." }] });
        this.set("status", "idle");
      } else this.set("status", "idle");
      this.emit("msg:custom", { type: "capture", on: false });   // the microphone is released
    };
  }

  receive(frame) {
    const at = (t) => t + this.offset;
    if (frame.type === "transcript_interim") {
      this.tell({ interim: { text: frame.text, start: at(frame.start), end: at(frame.start + frame.duration) } });
    } else if (frame.type === "transcript_final") {
      const view = {
        text: frame.text, start: at(frame.start), end: at(frame.start + frame.duration), utterance: this.utterance,
        confidence: frame.confidence, speech_final: frame.speech_final,
        words: frame.words.map((w) => { const [t, s, e, c] = wordView(w); return [t, at(s), at(e), c]; }),
      };
      this.tell({ finals: [view], interim: null });
      if (frame.speech_final) this.utterance++;
    } else if (frame.type === "speech_started") {
      this.tell({ marks: [["speech_started", at(frame.timestamp)]] });
    } else if (frame.type === "utterance_end") {
      this.tell({ marks: [["utterance_end", at(frame.last_word_end)]] });
    } else if (frame.type === "error") {
      this.tell({ errors: [{ code: frame.code, message: frame.message }] });
      if (REFUSED.has(frame.code) && this.get("status") !== "stopping") {  // the session never ran: stop capturing
        const ws = this.ws;
        this.ws = null;
        this.pending = [];
        this.set("status", "error");
        this.emit("msg:custom", { type: "capture", on: false });
        ws?.close();
      }
    } else if (frame.type === "transcription_stopped") {
      this.offset += frame.audio_seconds;
      this.keep({});
      this.set("status", "idle");
      this.ws?.close();
    }
  }
}

const model = new SocketModel({
  _uid: "stt-page", language: params.get("language") ?? "ko", engine: params.get("engine") ?? "auto",
  engine_name: params.get("engine") ?? "auto", source_kind: "browser", source_label: "microphone",
  status: "idle", message: "", frame_ms: 100, low_confidence: 0.6, input_advice: "",
  echo_cancellation: false, noise_suppression: false, auto_gain_control: false,
  // "opus": the browser's WebM/Opus (1/8 of PCM16's bytes), found by the server from its first bytes
  transport: params.get("transport") === "opus" ? "opus" : "pcm",
});
live.initialize({ model });
live.render({ model, el: document.getElementById("live") });
if (saved?.finals?.length) {
  Object.assign(model, { offset: saved.offset ?? 0, utterance: saved.utterance ?? 0 });
  model.tell({ finals: saved.finals, marks: saved.marks ?? [] });
}

const language = document.getElementById("language");
if (![...language.options].some((o) => o.value === model.get("language"))) language.add(new Option(model.get("language")));
language.value = model.get("language");
language.addEventListener("change", () => model.set("language", language.value));  // the next recording's
const transport = document.getElementById("transport");
transport.value = model.get("transport");
transport.addEventListener("change", () => model.set("transport", transport.value));

// downloads, from what the page holds
const clock = (t, sep) => {
  const ms = Math.round(t * 1000), p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(Math.floor(ms / 3600000))}:${p(Math.floor(ms / 60000) % 60)}:${p(Math.floor(ms / 1000) % 60)}${sep}${p(ms % 1000, 3)}`;
};
function lines() {                         // one line per utterance, as the view draws them
  const out = [];
  for (const f of model.kept?.finals ?? []) {
    const last = out[out.length - 1];
    if (last && last.utterance === f.utterance) { last.text += ` ${f.text}`; last.end = f.end; }
    else out.push({ utterance: f.utterance, start: f.start, end: f.end, text: f.text });
  }
  return out.filter((l) => l.text.trim());
}
const FORMATS = {
  txt: () => lines().map((l) => l.text).join("\n") + "\n",
  srt: () => lines().map((l, i) => `${i + 1}\n${clock(l.start, ",")} --> ${clock(l.end, ",")}\n${l.text}\n`).join("\n"),
  json: () => JSON.stringify({ language: model.get("language"), utterances: lines(), finals: model.kept?.finals ?? [] }, null, 1),
};
for (const button of document.querySelectorAll("[data-format]")) {
  button.addEventListener("click", () => {
    const format = button.dataset.format;
    const a = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(new Blob([FORMATS[format]()], { type: format === "json" ? "application/json" : "text/plain" })),
      download: `transcript.${format}`,
    });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  });
}
document.getElementById("clear").addEventListener("click", () => {
  localStorage.removeItem(SAVED);
  location.reload();
});

authorized(token).then((ok) => { if (!ok) showLogin(token ? "That token was refused." : "This server needs a token."); });
