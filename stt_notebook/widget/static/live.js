// LiveTranscriber front end: microphone → 16 kHz PCM16 frames to the kernel (binary comm buffers),
// and the live view: interim text, final lines shaded by confidence, a scrolling confidence timeline.
// anywidget loads this file from a blob: URL, so the AudioWorklet is built from a string.

const WORKLET = `
class STTPcm16 extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.step = sampleRate / 16000;          // device samples per output sample (2.75625 at 44.1 kHz)
    this.size = Math.round(16 * options.processorOptions.frameMs);
    this.frame = new Int16Array(this.size);
    this.n = 0; this.pos = 0; this.acc = 0; this.k = 0; this.sq = 0;
    this.port.onmessage = () => { this.emit(); this.port.postMessage({ done: true }); };
  }
  emit() {
    if (this.n === 0) return;
    const pcm = this.frame.slice(0, this.n);
    const rms = Math.sqrt(this.sq / this.n) / 32768;
    this.port.postMessage({ pcm: pcm.buffer, rms }, [pcm.buffer]);
    this.n = 0; this.sq = 0;
  }
  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const channels = input.length, length = input[0].length;
    for (let i = 0; i < length; i++) {
      let x = 0;
      for (let c = 0; c < channels; c++) x += input[c][i];
      this.acc += x / channels; this.k++;
      if (++this.pos >= this.step) {        // box low-pass over each output period, then decimate
        this.pos -= this.step;
        const s = Math.max(-1, Math.min(1, this.acc / this.k));
        const v = s < 0 ? s * 0x8000 : s * 0x7fff;
        this.frame[this.n++] = v; this.sq += v * v;
        this.acc = 0; this.k = 0;
        if (this.n === this.size) this.emit();
      }
    }
    return true;
  }
}
registerProcessor("stt-pcm16", STTPcm16);
`;

const stores = (globalThis.__sttNotebook ??= new Map());
const now = () => performance.timeOrigin + performance.now();
const TIMELINE_SECONDS = 30;

function storeFor(model) {
  const uid = model.get("_uid");
  if (!stores.has(uid)) {
    stores.set(uid, { finals: [], interim: null, marks: [], errors: [], level: -100, capture: null,
                      downLatencyMs: [], views: new Set(), sentBytes: 0 });
  }
  return stores.get(uid);
}

function changed(store) {
  for (const redraw of store.views) redraw();
}

// ---- capture: one per widget model, whatever the number of views ----

async function startCapture(model, store) {
  if (store.capture) return;
  const fail = (code, message) => {
    model.send({ type: "error", code, message });
    store.errors.push({ code, message, local: true });  // shown at once; the kernel's echo is not shown again
    changed(store);
  };
  if (model.get("source_kind") !== "browser") {
    model.send({ type: "start" });
    store.capture = { kernelSide: true };
    return changed(store);
  }
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    return fail("DEVICE_ERROR", "The microphone needs a secure page: open Jupyter over https:// or " +
                "http://localhost (an SSH tunnel works), or use source='sounddevice' or a file.");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: model.get("echo_cancellation"),
               noiseSuppression: model.get("noise_suppression"), autoGainControl: model.get("auto_gain_control") },
    });
  } catch (e) {
    const why = e.name === "NotAllowedError" ? "Microphone permission was denied: allow it in the browser's site settings and click Start again."
      : e.name === "NotFoundError" ? "No microphone found on this computer: plug one in, or use a file source."
      : `The microphone could not be opened (${e.name}: ${e.message}).`;
    return fail("DEVICE_ERROR", why);
  }
  // 16 kHz context: the browser's own resampler (band-limited, as soxr is on the file path) brings the
  // device's rate down; where a context cannot take a stream of another rate, the device's rate and
  // the worklet's own decimation
  let ctx = new AudioContext({ sampleRate: 16000 });
  let input;
  try {
    input = ctx.createMediaStreamSource(stream);
  } catch {
    ctx.close();
    ctx = new AudioContext();
    input = ctx.createMediaStreamSource(stream);
  }
  await ctx.resume();
  const url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
  try {
    await ctx.audioWorklet.addModule(url);
  } catch (e) {
    stream.getTracks().forEach((t) => t.stop());
    ctx.close();
    return fail("DEVICE_ERROR", `The audio worklet could not load (${e.message}); a Content-Security-Policy may block blob: scripts.`);
  } finally {
    URL.revokeObjectURL(url);
  }
  const node = new AudioWorkletNode(ctx, "stt-pcm16", {
    numberOfInputs: 1, numberOfOutputs: 0, processorOptions: { frameMs: model.get("frame_ms") },
  });
  let seq = 0;
  const send = (buffer, extra = {}) => {     // quiet: see kernel_connection.py
    model.send({ type: "audio", seq: seq++, t: now(), quiet: true, ...extra }, undefined, [buffer]);
    store.sentBytes += buffer.byteLength;
  };
  // transport="opus": the browser's own encoder (MediaRecorder, WebM/Opus at 32 kb/s, 1/8 of PCM16's
  // bytes) for a notebook far away over a thin uplink; the worklet then only measures the level
  const OPUS = "audio/webm;codecs=opus";
  const opus = model.get("transport") === "opus" && window.MediaRecorder?.isTypeSupported?.(OPUS);
  const finished = new Promise((resolve) => {
    node.port.onmessage = ({ data }) => {
      if (data.done) return resolve();
      if (!opus) send(data.pcm);
      store.level = data.rms > 0 ? 20 * Math.log10(data.rms) : -100;
      changed(store);
    };
  });
  model.send({ type: "start" });             // before the first frame: the kernel opens a session
  input.connect(node);
  store.capture = { ctx, node, input, stream, finished };
  if (opus) {
    const recorder = new MediaRecorder(stream, { mimeType: OPUS, audioBitsPerSecond: 32000 });
    let chain = Promise.resolve();           // chunks go in the order they were recorded
    recorder.ondataavailable = (e) => {
      chain = chain.then(async () => { if (e.data.size) send(await e.data.arrayBuffer(), { container: true }); });
    };
    store.capture.recorded = new Promise((resolve) => { recorder.onstop = () => chain.then(resolve); });
    store.capture.recorder = recorder;
    recorder.start(100);
  }
  changed(store);
}

async function stopCapture(model, store) {
  const capture = store.capture;
  if (!capture) return;
  store.capture = null;
  if (!capture.kernelSide) {
    capture.input.disconnect();
    capture.node.port.postMessage("flush");  // the last partial frame, then done
    await Promise.race([capture.finished, new Promise((r) => setTimeout(r, 500))]);
    if (capture.recorder) {                  // its last chunk goes before the stop
      capture.recorder.stop();
      await Promise.race([capture.recorded, new Promise((r) => setTimeout(r, 1000))]);
    }
    capture.stream.getTracks().forEach((t) => t.stop());
    capture.ctx.close();
  }
  store.level = -100;
  model.send({ type: "stop" });
  changed(store);
}

// ---- kernel → page ----

function receive(store, msg) {
  if (typeof msg.t === "number") {
    store.downLatencyMs.push(now() - msg.t);
    if (store.downLatencyMs.length > 10000) store.downLatencyMs.shift();
  }
  if (msg.type === "snapshot") {
    store.finals = msg.finals; store.marks = msg.marks; store.errors = msg.errors; store.interim = msg.interim;
  } else if (msg.type === "update") {
    if (msg.clear_errors) store.errors = [];   // a new recording started: earlier errors are history
    if (msg.finals) store.finals.push(...msg.finals);
    if (msg.marks) store.marks.push(...msg.marks);
    for (const e of msg.errors ?? []) {
      const echo = store.errors.find((x) => x.local && x.code === e.code && x.message === e.message);
      if (echo) echo.local = false;          // the page's own error, back from the kernel: already shown
      else store.errors.push(e);
    }
    if ("interim" in msg) store.interim = msg.interim;
    if ("level" in msg) store.level = msg.level;
  }
  changed(store);
}

function initialize({ model }) {
  const store = storeFor(model);
  const onMessage = (msg) => {
    if (msg.type === "capture") msg.on ? startCapture(model, store) : stopCapture(model, store);
    else receive(store, msg);
  };
  model.on("msg:custom", onMessage);
  const saved = model.get("_saved");         // a reopened notebook's saved state: drawn until the kernel answers
  if (saved && saved.type === "snapshot") receive(store, saved);
  model.send({ type: "hello" });             // after a page reload: the kernel sends what it heard
  return () => {                             // the widget is closed: release the microphone, forget it
    model.off?.("msg:custom", onMessage);
    const capture = store.capture;
    store.capture = null;
    if (capture && !capture.kernelSide) {
      capture.input.disconnect();
      capture.stream.getTracks().forEach((t) => t.stop());
      capture.ctx.close();
    }
    stores.delete(model.get("_uid"));
  };
}

// ---- the view ----

function h(tag, attrs = {}, text) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function wordSpan([text, start, end, confidence], low) {
  const span = h("span", { class: "stt-word", title: `${text}: ${(confidence * 100).toFixed(0)}% at ${start.toFixed(2)}s` }, text);
  span.style.setProperty("--stt-doubt", (1 - Math.max(0, Math.min(1, confidence))).toFixed(3));
  if (confidence < low) span.classList.add("stt-low");
  return span;
}

// scripts written without spaces between words (events.UNSPACED): Han, kana, Thai, …
const UNSPACED = /[\u0e00-\u0fff\u1000-\u109f\u1780-\u17ff\u3000-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff9f\u{20000}-\u{2ffff}]/u;

function appendFinal(log, final, low) {
  // one line per utterance, as the utterances table: a final continues its utterance's line
  let line = log.lastElementChild;
  if (!line || line.dataset.utterance !== String(final.utterance)) {
    line = h("div", { class: "stt-final", "data-utterance": String(final.utterance) });
    line.append(h("span", { class: "stt-time" }, `${final.start.toFixed(1)}s`));
    log.append(line);
  }
  const words = final.words.length ? final.words.map((w) => wordSpan(w, low)) : final.text ? [h("span", {}, final.text)] : [];
  for (const w of words) {
    if (line.childElementCount > 1 && !(UNSPACED.test(line.lastChild.textContent.slice(-1)) && UNSPACED.test(w.textContent[0] || ""))) line.append(" ");
    line.append(w);
  }
}

const AXIS = 26;                            // px left of the plot for the confidence axis

// colours for the page's theme: light text means a dark theme (JupyterLab Dark, a dark browser)
const LIGHT = { text: "110,110,110", word: "9,105,218", low: "207,34,46", start: "46,160,67", back: "255,255,255" };
const DARK = { text: "190,190,190", word: "88,166,255", low: "255,123,114", start: "63,185,80", back: "30,30,30" };
function palette(el) {
  const [r, g, b] = (getComputedStyle(el).color.match(/[\d.]+/g) ?? ["0", "0", "0"]).map(Number);
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? DARK : LIGHT;
}

function drawTimeline(canvas, store, low) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 600, height = canvas.clientHeight || 90;
  if (canvas.width !== width * ratio) { canvas.width = width * ratio; canvas.height = height * ratio; }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const latest = Math.max(store.interim?.end ?? 0, store.finals.at(-1)?.end ?? 0, store.marks.at(-1)?.[1] ?? 0);
  const t0 = Math.max(0, latest - TIMELINE_SECONDS);
  const words = [];                          // only the finals in view: an hour-long session stays cheap
  for (let i = store.finals.length - 1; i >= 0 && store.finals[i].end >= t0; i--) words.push(...store.finals[i].words);
  const x = (t) => AXIS + ((t - t0) / TIMELINE_SECONDS) * (width - AXIS);
  const y = (c) => 4 + (1 - c) * (height - 16);
  const p = palette(canvas);
  g.fillStyle = `rgba(${p.text},0.9)`;
  g.font = "10px sans-serif";
  g.textAlign = "right";
  for (const c of [0, 0.5, 1]) g.fillText(c.toFixed(1), AXIS - 4, y(c) + 3);   // the confidence axis
  g.strokeStyle = `rgba(${p.text},0.5)`;
  g.beginPath(); g.moveTo(AXIS, 2); g.lineTo(AXIS, height - 12); g.stroke();
  g.textAlign = "left";
  for (let i = store.marks.length - 1; i >= 0 && store.marks[i][1] >= t0; i--) {
    const [kind, t] = store.marks[i];
    g.strokeStyle = kind === "speech_started" ? `rgba(${p.start},0.8)` : `rgba(${p.text},0.8)`;
    g.setLineDash(kind === "speech_started" ? [] : [3, 3]);
    g.beginPath(); g.moveTo(x(t), 0); g.lineTo(x(t), height - 12); g.stroke();
  }
  g.setLineDash([]);
  for (const [, start, end, c] of words) {
    if (end < t0) continue;
    g.fillStyle = c < low ? `rgba(${p.low},0.85)` : `rgba(${p.word},${0.35 + 0.65 * c})`;
    g.fillRect(x(start), y(c), Math.max(2, x(end) - x(start) - 1), height - 12 - y(c));
  }
  if (store.interim) {
    g.fillStyle = `rgba(${p.text},0.25)`;
    g.fillRect(x(store.interim.start), 0, Math.max(2, x(store.interim.end) - x(store.interim.start)), height - 12);
  }
  g.fillStyle = `rgba(${p.text},0.9)`;
  for (let s = Math.ceil(t0 / 5) * 5; s <= t0 + TIMELINE_SECONDS; s += 5) g.fillText(`${s}s`, x(s) + 2, height - 2);
  // the "low" threshold over the bars, its label on a backing so no bar hides it
  g.strokeStyle = `rgba(${p.low},0.8)`;
  g.setLineDash([2, 3]);
  g.beginPath(); g.moveTo(AXIS, y(low)); g.lineTo(width, y(low)); g.stroke();
  g.setLineDash([]);
  const label = `low < ${low}`, w = g.measureText(label).width;
  g.fillStyle = `rgba(${p.back},0.85)`;
  g.fillRect(width - w - 5, y(low) - 13, w + 4, 12);
  g.fillStyle = `rgba(${p.low},1)`;
  g.textAlign = "right";
  g.fillText(label, width - 3, y(low) - 4);
}

function legend() {
  const item = (cls, label) => {
    const span = h("span", { class: "stt-key" });
    span.append(h("i", { class: cls, "aria-hidden": "true" }), label);
    return span;
  };
  const box = h("div", { class: "stt-legend", "aria-label": "Timeline legend" });
  const threshold = item("stt-key-low", "");
  box.append(item("stt-key-word", "word confidence"), threshold, item("stt-key-start", "speech started"),
             item("stt-key-end", "utterance end"));
  return { box, setLow: (low) => { threshold.lastChild.textContent = `doubtful (< ${low})`; } };
}

function render({ model, el, signal }) {
  const store = storeFor(model);
  const root = h("div", { class: "stt-live" });
  const bar = h("div", { class: "stt-bar" });
  const button = h("button", { class: "stt-toggle", type: "button" });
  const meter = h("meter", { class: "stt-level", min: "-60", max: "0", low: "-45", high: "-6", optimum: "-20", "aria-label": "Input level" });
  const gauge = h("span", { class: "stt-gauge" });  // the meter, its "too quiet" and "clipping" regions marked
  gauge.append(meter, h("span", { class: "stt-zone-quiet", title: "too quiet (below -45 dBFS)" }),
               h("span", { class: "stt-zone-clip", title: "clipping (above -3 dBFS)" }));
  const status = h("span", { class: "stt-status", role: "status" });
  bar.append(button, gauge, status);
  const advice = h("div", { class: "stt-advice", role: "note", "aria-label": "Input advice" });
  const log = h("div", { class: "stt-finals", role: "log", "aria-label": "Transcript" });
  const interim = h("div", { class: "stt-interim", "aria-live": "polite", "aria-label": "Interim text" });
  const canvas = h("canvas", { class: "stt-timeline", role: "img", "aria-label": "Confidence timeline" });
  const key = legend();
  const timeline = h("figure", { class: "stt-figure" });
  timeline.append(canvas, key.box);
  const errors = h("div", { class: "stt-errors", role: "alert" });
  root.append(bar, advice, log, interim, timeline, errors);
  el.append(root);

  // what each kernel state means to the person: audio captured while the model loads is kept, and
  // after Stop the last finals are still on their way until "idle"
  const STATES = { loading: "loading the model…", stopping: "finishing… the last words are on their way" };
  let shownFinals = 0, frame = 0;
  const redraw = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const recording = store.capture !== null || ["starting", "recording"].includes(model.get("status"));
      button.textContent = recording ? "Stop recording" : "Start recording";
      button.classList.toggle("stt-on", recording);
      meter.value = Math.max(-60, store.level);
      advice.textContent = model.get("input_advice");  // the kernel's words: the input stays too quiet or clips
      advice.hidden = !advice.textContent;
      const state = model.get("status");
      const said = state === "loading" && store.capture ? "loading the model… your speech is kept" : STATES[state] ?? state;
      status.textContent = `${model.get("engine_name")} · ${model.get("language")} · ${model.get("source_label")} · ${said}`;
      const low = model.get("low_confidence");
      if (shownFinals > store.finals.length) { log.replaceChildren(); shownFinals = 0; }  // a snapshot replaced them
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
      for (; shownFinals < store.finals.length; shownFinals++) appendFinal(log, store.finals[shownFinals], low);
      if (atBottom) log.scrollTop = log.scrollHeight;
      interim.textContent = store.interim?.text ?? "";
      const shown = store.errors.slice(-3).map((e) => `${e.code}: ${e.message}`);
      const message = model.get("message");  // e.g. the engine could not load, before any recording
      if (state === "error" && message && !shown.includes(message)) shown.push(message);
      errors.replaceChildren(...shown.map((text) => h("div", {}, text)));
      timeline.hidden = !(store.finals.length || store.marks.length || store.interim);  // no empty box before speech
      key.setLow(low);
      if (!timeline.hidden) drawTimeline(canvas, store, low);
    });
  };
  store.views.add(redraw);
  button.addEventListener("click", () => {
    if (store.capture || model.get("status") === "recording") stopCapture(model, store);
    else startCapture(model, store);
  }, { signal });
  for (const name of ["status", "engine_name", "language", "source_label", "message", "low_confidence", "input_advice"]) {
    model.on(`change:${name}`, redraw);
  }
  model.on("change:status", () => {   // the kernel stopped (w.stop(), end of file, engine failure)
    const state = model.get("status");
    if (state === "error" && store.capture && !store.capture.kernelSide) stopCapture(model, store);
    else if (["idle", "error"].includes(state) && store.capture?.kernelSide) {
      store.capture = null;
      store.level = -100;                    // nothing is captured any more: the meter rests
      redraw();
    }
  });
  const cleanup = () => { store.views.delete(redraw); if (frame) cancelAnimationFrame(frame); };
  signal?.addEventListener("abort", cleanup);
  redraw();
  return cleanup;                            // anywidget calls it when the view is removed
}

export default { initialize, render };
