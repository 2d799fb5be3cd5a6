// The voice endpoints as the page uses them (multipart uploads, SSE voice turns, the
// realtime socket). Errors become api.js's ApiError, so describeError() words them.

import { ApiError } from "./api.js";
import { readEvents } from "./sse.js";

async function errorFrom(response) {
  try {
    const body = await response.json();
    if (body && body.error) return new ApiError(response.status, body.error.code, body.error.message);
  } catch {
    // not JSON
  }
  return new ApiError(response.status, `http_${response.status}`, response.statusText || `The server answered ${response.status}.`);
}

async function request(method, path, { form, signal, accept = "application/json" } = {}) {
  let response;
  try {
    response = await fetch(path, { method, body: form, signal, credentials: "same-origin", headers: { Accept: accept } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "Harvis cannot be reached. Check your connection and that the server is running.");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export const voiceApi = {
  voices: async () => (await request("GET", "/api/voices")).json(),
  deleteVoice: (id) => request("DELETE", `/api/voices/${encodeURIComponent(id)}`),

  /** POST /api/voices: a reference clip, its name, and the consent statement exactly as shown. */
  addVoice: async ({ file, name, consent }) => {
    const form = new FormData();
    form.append("audio", file);
    form.append("name", name);
    form.append("consent", consent);
    return (await request("POST", "/api/voices", { form })).json();
  },

  /** POST /api/voice/turn and yield its events; abort `signal` to stop the answer. */
  async *turn({ audio, sessionId, model, voice }, signal) {
    const form = new FormData();
    form.append("audio", audio, audio.type.includes("ogg") ? "question.ogg" : "question.webm");
    if (sessionId) form.append("session_id", sessionId);
    if (model) form.append("model", model);
    if (voice) form.append("voice", voice);
    const response = await request("POST", "/api/voice/turn", { form, signal, accept: "text/event-stream" });
    yield* readEvents(response.body);
  },

  socketUrl: () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/voice/ws`,
};
