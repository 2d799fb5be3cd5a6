// The voice controls (issue 5): a mic button (hold to talk, or click to start and click to
// send), hands-free mode over the realtime socket (the server hears when you stop, and you
// can talk over the answer to interrupt it), a visible state, the answer's audio played in
// order with a stop control, a voice picker and voice upload.
//
// mountVoice(panel, ctx) is called once after log-in with ctx.api, ctx.chat, ctx.getModel(),
// ctx.onError(err).

import { describeError, userTimeZone } from "./api.js";
import { Player } from "./voice-playback.js";
import { recordClip, streamPcm } from "./voice-capture.js";
import { VoiceLibrary } from "./voice-library.js";
import { voiceApi } from "./voice-api.js";
import { VoiceTurnView } from "./voice-turn-view.js";

const STATE_WORDS = { idle: "Ready", listening: "Listening…", thinking: "Thinking…", speaking: "Speaking…" };
const HOLD_MS = 350; // a press longer than this is push-to-talk; shorter is a click

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export function mountVoice(panel, ctx) {
  const link = el("link", { rel: "stylesheet", href: new URL("../voice.css", import.meta.url).href });
  document.head.append(link);
  const mic = el("button", { type: "button", className: "primary mic", textContent: "Talk" });
  mic.setAttribute("aria-label", "Talk");
  mic.setAttribute("aria-pressed", "false");
  const handsFree = el("input", { type: "checkbox", id: "hands-free" });
  const stateText = el("span", { className: "voice-state", role: "status" });
  const stopAudio = el("button", { type: "button", className: "danger", textContent: "Stop", hidden: true });
  stopAudio.setAttribute("aria-label", "Stop voice answer");
  const library = new VoiceLibrary(ctx.onError);
  panel.replaceChildren(
    el("div", { className: "voice-controls" }, mic,
      el("label", { className: "hands-free" }, handsFree, el("span", { textContent: "Hands-free" })), stateText, stopAudio),
    library.root);
  panel.hidden = false;

  let state = "idle";
  let recording = null; // push-to-talk clip being recorded
  let pressedAt = 0;
  let turnAbort = null; // the SSE turn in flight
  let live = null; // hands-free: {ws, stopMic, view}
  const player = new Player((playing) => setState(playing ? "speaking" : live ? "listening" : turnAbort ? "thinking" : "idle"));
  player.onPlayed = (n) => (panel.dataset.played = String(n));

  function setState(next) {
    state = next;
    panel.dataset.state = next;
    stateText.textContent = STATE_WORDS[next];
    mic.setAttribute("aria-pressed", String(next === "listening" && !!recording));
    stopAudio.hidden = !(next === "speaking" || next === "thinking");
  }
  setState("idle");

  const fail = (err) => {
    ctx.onError(typeof err === "string" ? err : err.message && !err.code ? err.message : describeError(err));
  };

  // ---- push-to-talk (POST /api/voice/turn)
  async function startRecording() {
    player.unlock();
    stopAll();
    try {
      recording = await recordClip((ms) => (panel.dataset.recordedMs = String(Math.round(ms))));
      setState("listening");
    } catch (err) {
      recording = null;
      fail(err);
    }
  }

  async function sendRecording() {
    const clip = recording;
    recording = null;
    if (!clip) return;
    const audio = await clip.stop();
    setState("thinking");
    const controller = new AbortController();
    turnAbort = controller;
    const view = new VoiceTurnView({ chat: ctx.chat, player, model: ctx.getModel(), onError: fail });
    try {
      const request = { audio, sessionId: ctx.chat.sessionId, model: ctx.getModel(), voice: library.value };
      for await (const { event, data } of voiceApi.turn(request, controller.signal)) view.handle(event, data);
    } catch (err) {
      if (err.name === "AbortError") view.finish("interrupted");
      else fail(err);
    } finally {
      turnAbort = null;
      if (!player.playing) setState("idle");
    }
  }

  mic.addEventListener("pointerdown", async () => {
    if (live) return;
    if (recording) return; // second click of click-to-talk: handled on pointerup
    pressedAt = performance.now();
    await startRecording();
  });
  mic.addEventListener("pointerup", () => {
    if (live || !recording) return;
    const held = performance.now() - pressedAt;
    if (held >= HOLD_MS || pressedAt === 0) sendRecording();
    else pressedAt = 0; // a click: keep recording until the next click
  });
  mic.addEventListener("keydown", (e) => {
    if ((e.key === " " || e.key === "Enter") && !e.repeat) {
      e.preventDefault();
      if (recording) sendRecording();
      else if (!live) startRecording();
    }
  });

  // ---- hands-free (WS /api/voice/ws)
  async function startLive() {
    player.unlock();
    stopAll();
    const ws = new WebSocket(voiceApi.socketUrl());
    ws.binaryType = "arraybuffer";
    live = { ws, stopMic: null, view: null, views: new Map(), playingId: null };
    const session = live;
    ws.onmessage = (e) => onLiveEvent(session, JSON.parse(e.data));
    ws.onclose = () => {
      if (live === session) stopLive("The voice connection closed.");
    };
    ws.onopen = async () => {
      try {
        session.stopMic = await streamPcm((frame) => {
          if (ws.readyState === WebSocket.OPEN) ws.send(frame);
        });
      } catch (err) {
        stopLive();
        fail(err);
      }
    };
  }

  function onLiveEvent(session, msg) {
    const { type, ...data } = msg;
    if (type === "ready") {
      session.ws.send(JSON.stringify({ type: "start", session_id: ctx.chat.sessionId, model: ctx.getModel(), voice: library.value, timezone: userTimeZone() }));
    } else if (type === "listening") {
      setState("listening");
    } else if (type === "speech_started") {
      reportPlayed(session); // saved as heard: the server cuts the answer where it stopped
      player.stop(); // talking over the answer: silence it now, the server stops generating
    } else if (type === "partial") {
      // What was heard so far, while the user still talks (text only, never HTML).
      stateText.textContent = `${STATE_WORDS.listening} “${data.text || ""}”`;
    } else if (type === "speech_ended") {
      setState("thinking");
    } else if (type === "session") {
      // A turn's events begin here (pieces heard meanwhile may have joined into one turn).
      session.view = new VoiceTurnView({ chat: ctx.chat, player, model: ctx.getModel(), onError: fail });
      session.view.handle(type, data);
      session.views.set(data.assistant_message_id, session.view);
      if (session.views.size > 4) session.views.delete(session.views.keys().next().value);
    } else if (type === "timer_audio") {
      player.enqueue(data.data, null); // a timer went off: said after what is playing (shown by timers.js)
    } else if (type === "timer") {
      // shown by timers.js from the web stream; the spoken clip follows as timer_audio
    } else if (type === "truncated") {
      session.views.get(data.message_id)?.heard(data.text || "");
    } else if (type === "interrupted") {
      player.stop();
      session.view?.finish("interrupted");
      setState("listening");
    } else if (type === "error" && data.code === "unauthorized") {
      stopLive();
      fail(data);
    } else if (type === "error" && !data.message_id) {
      fail(data); // not about an answer (nothing heard, a bad message)
    } else if (session.view) {
      session.view.handle(type, data);
      if (type === "audio") session.playingId = session.view.ids?.assistant_message_id;
      if (type === "done" && !player.playing) setState("listening");
    } else if (type === "error") {
      fail(data);
    }
  }

  /** Tell the server how far the answer playing now was heard (clause and offset). */
  function reportPlayed(session) {
    if (!player.playing || session.ws.readyState !== WebSocket.OPEN) return;
    const position = player.position();
    const id = session.playingId;
    if (!position || !id) return;
    session.ws.send(JSON.stringify({ type: "played", message_id: id, ...position }));
  }

  function stopLive(reason) {
    const session = live;
    live = null;
    handsFree.checked = false;
    if (!session) return;
    session.stopMic?.();
    if (session.ws.readyState <= WebSocket.OPEN) session.ws.close();
    player.stop();
    setState("idle");
    if (reason) ctx.onError(reason);
  }

  handsFree.addEventListener("change", () => (handsFree.checked ? startLive() : stopLive()));

  // ---- stop: silence the answer and stop generating it
  function stopAll() {
    if (live && live.ws.readyState === WebSocket.OPEN) {
      live.ws.send(JSON.stringify({ type: "cancel" }));
      reportPlayed(live);
    }
    player.stop();
    if (turnAbort) turnAbort.abort();
  }
  stopAudio.addEventListener("click", () => {
    stopAll();
    setState(live ? "listening" : "idle");
  });

  library.refresh();
}
