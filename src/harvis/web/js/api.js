// The Harvis HTTP API as the page uses it. Auth is the httpOnly session cookie the login
// sets, so no token is ever kept in page-readable storage.

import { readEvents } from "./sse.js";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** Called with no arguments whenever the server says we are not logged in (401). */
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function errorFrom(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || `The server answered ${response.status}.`;
  try {
    const body = await response.json();
    if (body && body.error && typeof body.error === "object") {
      code = body.error.code || code;
      message = body.error.message || message;
    } else if (body && typeof body.detail === "string") {
      message = body.detail;
    }
  } catch {
    // Not JSON (a proxy's HTML error page): keep the status text.
  }
  const retry = response.headers.get("Retry-After");
  return new ApiError(response.status, code, message, retry ? Number(retry) : null);
}

/** The one way the page calls the server: JSON or a FormData body; errors as ApiError (with
 *  Retry-After), and a 401 tells the page to sign in again. */
export async function send(method, path, body, { signal, accept = "application/json", quiet401 = false } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: accept }, signal };
  if (body instanceof FormData) {
    init.body = body; // the browser sets the multipart boundary
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "Harvis cannot be reached. Check your connection and that the server is running.");
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && !quiet401) onUnauthorized(error);
    throw error;
  }
  return response;
}

async function json(method, path, body, options) {
  const response = await send(method, path, body, options);
  return response.status === 204 ? null : response.json();
}

export const api = {
  me: () => json("GET", "/api/auth/me", undefined, { quiet401: true }),
  authConfig: () => json("GET", "/api/auth/config"),
  login: (username, password) => json("POST", "/api/auth/login", { username, password }, { quiet401: true }),
  signup: (username, password) => json("POST", "/api/auth/signup", { username, password }),
  logout: () => json("POST", "/api/auth/logout"),
  adminSettings: () => json("GET", "/api/admin/settings"),
  setAdminSettings: (changes) => json("PATCH", "/api/admin/settings", changes),
  models: () => json("GET", "/api/models"),
  sessions: () => json("GET", "/api/sessions"),
  renameSession: (id, title) => json("PATCH", `/api/sessions/${encodeURIComponent(id)}`, { title }),
  deleteSession: (id) => json("DELETE", `/api/sessions/${encodeURIComponent(id)}`),
  messages: (id) => json("GET", `/api/sessions/${encodeURIComponent(id)}/messages`),

  /** POST /api/chat and yield its server-sent events; abort `signal` to stop the answer. */
  async *chat({ sessionId, model, message }, signal) {
    const body = { message };
    const timezone = userTimeZone();
    if (timezone) body.timezone = timezone;
    if (sessionId) body.session_id = sessionId;
    if (model) body.model = model;
    const response = await send("POST", "/api/chat", body, { signal, accept: "text/event-stream" });
    yield* readEvents(response.body);
  },
};

/** Words for a person, from an ApiError or an `error` event {code, message}. */
export function describeError(error) {
  const code = error.code || "";
  const message = error.message || "Something went wrong.";
  if (code === "network") return message;
  if (code === "llm_unavailable" || code === "upstream_error" || code === "stream_broken" || error.status === 502) {
    return `The language model is not reachable right now (${message}). Try again in a moment.`;
  }
  if (code === "no_capacity" || error.status === 503) {
    const wait = error.retryAfter ?? error.retry_after;
    return `Harvis is busy${wait ? `; try again in ${Math.ceil(wait)} s` : "; try again shortly"}. (${message})`;
  }
  if (code === "model_not_found") return `That model is not available: ${message}`;
  if (error.status === 429) {
    const wait = error.retryAfter;
    return `Too many attempts. Wait${wait ? ` ${Math.ceil(wait)} s` : " a moment"} and try again.`;
  }
  if (error.status === 504) return "The server took too long to answer. Try again.";
  return message;
}

/** The browser's IANA time zone (for tools such as the current time), or undefined. */
export function userTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}
