// Timers and reminders (set by talking to Harvis): a small list of the active ones with a
// countdown and a cancel button, and a visible announcement when one goes off, from the
// server's stream GET /api/timers/events (EventSource: the session cookie, reconnects by
// itself). On a voice socket the server also speaks it (voice.js plays `timer_audio`).
//
// mountTimers(root, {onError}) is called once after log-in.

import { describeError, send } from "./api.js";

const REFRESH_MS = 1000; // the countdown's step

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/** "4:05" or "1:02:03" left; "now" once due. */
export function left(dueAt, now = Date.now()) {
  const s = Math.max(0, Math.round((new Date(dueAt).getTime() - now) / 1000));
  if (s === 0) return "now";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function mountTimers(root, { onError }) {
  const list = el("ul", { className: "timer-list" });
  list.setAttribute("aria-label", "Active timers");
  const alert = el("div", { className: "timer-alert", hidden: true });
  alert.setAttribute("role", "alert");
  const alertText = el("span", { className: "timer-alert-text" });
  const dismiss = el("button", { type: "button", className: "icon-button", textContent: "×" });
  dismiss.setAttribute("aria-label", "Dismiss timer");
  alert.append(alertText, dismiss);
  root.replaceChildren(alert, list);

  let timers = [];
  const seen = new Set(); // announced ids: a reconnect may hand one over again
  let skewMs = 0; // server clock minus ours, from the stream's `ready`

  function render() {
    const now = Date.now() + skewMs;
    const active = timers.filter((t) => t.status === "active");
    list.hidden = active.length === 0;
    root.hidden = list.hidden && alert.hidden; // no empty strip above the chat
    list.replaceChildren(
      ...active.map((t) => {
        const cancel = el("button", { type: "button", className: "icon-button", textContent: "×" });
        cancel.setAttribute("aria-label", `Cancel ${t.kind} ${t.text}`.trim());
        cancel.addEventListener("click", () => cancelTimer(t.id));
        const name = t.text || (t.kind === "timer" ? "Timer" : "Reminder");
        const item = el("li", { className: `timer-item ${t.kind}` },
          el("span", { className: "timer-name", textContent: name }),
          el("span", { className: "timer-left", textContent: left(t.due_at, now) }), cancel);
        item.dataset.id = t.id;
        return item;
      }),
    );
  }

  async function refresh() {
    try {
      timers = (await (await send("GET", "/api/timers")).json()).timers;
      render();
    } catch (err) {
      onError(describeError(err));
    }
  }

  async function cancelTimer(id) {
    try {
      await send("DELETE", `/api/timers/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status !== 409) onError(describeError(err)); // 409: it went off meanwhile
    }
    refresh();
  }

  function announce(event) {
    if (seen.has(event.id)) return;
    seen.add(event.id);
    alertText.textContent = event.say;
    alert.dataset.id = event.id;
    alert.hidden = false;
    render();
    refresh();
  }
  dismiss.addEventListener("click", () => {
    alert.hidden = true;
    render();
  });

  const source = new EventSource("/api/timers/events");
  source.addEventListener("ready", (e) => {
    const { now } = JSON.parse(e.data);
    skewMs = new Date(now).getTime() - Date.now();
    refresh(); // what changed while the stream was away
  });
  source.addEventListener("timer", (e) => announce(JSON.parse(e.data)));
  // The server's own `error` event carries data (too many streams); a dropped connection
  // does not, and EventSource reconnects by itself.
  source.addEventListener("error", (e) => {
    if (e.data) onError(describeError(JSON.parse(e.data)));
  });
  setInterval(render, REFRESH_MS);

  return { refresh, announce };
}
