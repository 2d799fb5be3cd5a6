// The voice endpoints as the page uses them (multipart uploads, SSE voice turns, the
// realtime socket), through api.js's one request helper: same errors, Retry-After and 401.

import { send, userTimeZone } from "./api.js";
import { readEvents } from "./sse.js";

export const voiceApi = {
  voices: async () => (await send("GET", "/api/voices")).json(),
  deleteVoice: (id) => send("DELETE", `/api/voices/${encodeURIComponent(id)}`),

  /** POST /api/voices: a reference clip, its name, and the consent statement exactly as shown. */
  addVoice: async ({ file, name, consent }) => {
    const form = new FormData();
    form.append("audio", file);
    form.append("name", name);
    form.append("consent", consent);
    return (await send("POST", "/api/voices", form)).json();
  },

  /** POST /api/voice/turn and yield its events; abort `signal` to stop the answer. */
  async *turn({ audio, sessionId, model, voice }, signal) {
    const form = new FormData();
    form.append("audio", audio, audio.type.includes("ogg") ? "question.ogg" : "question.webm");
    if (sessionId) form.append("session_id", sessionId);
    if (model) form.append("model", model);
    if (voice) form.append("voice", voice);
    const timezone = userTimeZone();
    if (timezone) form.append("timezone", timezone);
    const response = await send("POST", "/api/voice/turn", form, { signal, accept: "text/event-stream" });
    yield* readEvents(response.body);
  },

  socketUrl: () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/voice/ws`,
};
