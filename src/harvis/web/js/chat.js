// The conversation pane: loads a session's messages, sends a message and streams the
// answer in, and stops it on request.

import { api, ApiError, describeError } from "./api.js";
import { MessageView } from "./message-view.js";

const $ = (id) => document.getElementById(id);

export class Chat {
  /**
   * @param {{getModel(): string, onSession(id: string, isNew: boolean): void,
   *          onSend(): void, onFinished(): void, onError(err: Error|string): void}} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.sessionId = null;
    this.controller = null;
    this.list = $("messages");
    this.input = $("message-input");
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      this.send(this.input.value);
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send(this.input.value);
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    $("stop").addEventListener("click", () => this.stop());
  }

  /** Grow the message box with its text, up to the CSS max-height. */
  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${this.input.scrollHeight + 2}px`;
  }

  get busy() {
    return this.controller !== null;
  }

  /** Show session `id` (null = a new, empty conversation). */
  async open(id) {
    this.stop();
    this.sessionId = id;
    this.clear();
    if (!id) return;
    try {
      const messages = await api.messages(id);
      if (this.sessionId !== id) return; // another session was opened meanwhile
      for (const m of messages) this.add(new MessageView(m));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        this.sessionId = null;
        this.handlers.onSession(null, false);
      }
      this.handlers.onError(err);
    }
  }

  clear() {
    this.list.replaceChildren($("empty-chat") || this.emptyNote());
    $("empty-chat").hidden = false;
  }

  emptyNote() {
    const p = document.createElement("p");
    p.id = "empty-chat";
    p.className = "empty-chat muted";
    p.textContent = "Ask Harvis anything.";
    return p;
  }

  /** Append a message view, keeping the view pinned to the bottom if it was there. */
  add(view) {
    $("empty-chat").hidden = true;
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    this.list.append(view.root);
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
    return view;
  }

  followBottom() {
    const gap = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight;
    if (gap < 160) this.list.scrollTop = this.list.scrollHeight;
  }

  setBusy(busy) {
    $("send").hidden = busy;
    $("stop").hidden = !busy;
  }

  stop() {
    if (this.controller) this.controller.abort();
  }

  /** A turn (typed here, or spoken) now belongs to session `id`: follow it (URL, sidebar). */
  adopt(id) {
    if (id && this.sessionId !== id) {
      this.sessionId = id;
      this.handlers.onSession(id, true);
    }
  }

  /** A spoken turn has ended: the same bookkeeping as a typed one. */
  turnFinished() {
    this.handlers.onFinished();
  }

  async send(raw) {
    const text = raw.trim();
    if (!text || this.busy) return;
    this.input.value = "";
    this.autosize();
    this.handlers.onSend();
    const mine = this.add(new MessageView({ role: "user", content: text }));
    const answer = this.add(new MessageView({ role: "assistant", status: "streaming", model: this.handlers.getModel() }));
    const controller = new AbortController();
    this.controller = controller;
    this.setBusy(true);
    let ended = false;
    try {
      const request = { sessionId: this.sessionId, model: this.handlers.getModel(), message: text };
      for await (const { event, data } of api.chat(request, controller.signal)) {
        if (event === "session") {
          mine.update({ id: data.user_message_id });
          answer.update({ id: data.assistant_message_id });
          this.adopt(data.session_id);
        } else if (event === "reasoning") {
          answer.appendReasoning(data.text || "");
        } else if (event === "tool_call") {
          answer.toolCall(data);
        } else if (event === "tool_result") {
          answer.toolResult(data);
        } else if (event === "tool_notice") {
          answer.toolNotice(data);
        } else if (event === "token") {
          answer.appendContent(data.text || "");
          this.followBottom();
        } else if (event === "done") {
          answer.update({ ...data, id: data.message_id, status: data.status || "complete" });
          ended = true;
        } else if (event === "error") {
          answer.update({ status: "error", error: describeError(data), id: data.message_id });
          this.handlers.onError(data);
          ended = true;
        }
      }
      if (!ended) answer.update({ status: "error", error: "The connection closed before the answer was finished." });
    } catch (err) {
      if (err.name === "AbortError") {
        answer.update({ status: "stopped" });
      } else {
        answer.update({ status: "error", error: describeError(err) });
        this.handlers.onError(err);
      }
    } finally {
      this.controller = null;
      this.setBusy(false);
      answer.render();
      this.followBottom();
      this.handlers.onFinished();
    }
  }
}
