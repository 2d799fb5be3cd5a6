// One message in the conversation: text (Markdown for answers), reasoning in a collapsible
// block, and a line saying how it ended (stopped, error …) and who answered.

import { renderMarkdown } from "./markdown.js";

const STATUS_WORDS = {
  streaming: "Answering…",
  stopped: "Stopped",
  interrupted: "Interrupted",
  error: "Failed",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class MessageView {
  constructor(message) {
    this.role = message.role === "user" ? "user" : "assistant";
    this.content = message.content || "";
    this.reasoning = message.reasoning || "";
    this.status = message.status || "complete";
    this.error = message.error || "";
    this.meta = { model: message.model, served_by: message.served_by, kind: message.kind, timings: message.timings };
    this.id = message.id || null;
    this.scheduled = false;

    this.root = el("article", `message message-${this.role}`);
    this.root.setAttribute("aria-label", this.role === "user" ? "Your message" : "Harvis's answer");
    const head = el("div", "message-head", this.role === "user" ? "You" : "Harvis");
    if (message.kind === "voice") head.append(el("span", "badge", "voice"));
    this.details = el("details", "reasoning");
    this.details.append(el("summary", "", "Reasoning"));
    this.reasoningText = this.details.appendChild(el("div", "reasoning-text"));
    this.body = el("div", "message-body");
    this.footer = el("div", "message-meta");
    this.root.append(head, this.details, this.body, this.footer);
    this.render();
  }

  appendContent(text) {
    this.content += text;
    this.schedule();
  }

  appendReasoning(text) {
    this.reasoning += text;
    this.schedule();
  }

  /** Batch token bursts into one render per frame. */
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  update(fields) {
    if (fields.status) this.status = fields.status;
    if (fields.error !== undefined) this.error = fields.error;
    if (fields.id) this.id = fields.id;
    for (const key of ["model", "served_by", "fallback", "timings"]) {
      if (fields[key] !== undefined) this.meta[key] = fields[key];
    }
    this.render();
  }

  render() {
    this.root.dataset.status = this.status;
    if (this.id) this.root.dataset.id = this.id;
    this.details.hidden = !this.reasoning;
    this.reasoningText.textContent = this.reasoning;
    if (this.role === "user") {
      this.body.textContent = this.content; // user text is shown exactly as typed
    } else {
      this.body.replaceChildren(renderMarkdown(this.content));
      if (this.status === "streaming" && !this.content) this.body.append(el("span", "typing", "Thinking…"));
      this.body.hidden = !this.content && this.status !== "streaming"; // no empty box for a failed answer
    }
    this.renderFooter();
  }

  renderFooter() {
    const parts = [];
    if (STATUS_WORDS[this.status]) parts.push(el("span", `status status-${this.status}`, STATUS_WORDS[this.status]));
    if (this.error) parts.push(el("span", "message-error", this.error));
    if (this.role === "assistant" && this.status !== "streaming") {
      const who = this.meta.model || "";
      const via = this.meta.served_by ? ` · ${this.meta.served_by}` : "";
      if (who || via) parts.push(el("span", "muted", `${who}${via}`));
      if (this.meta.fallback) parts.push(el("span", "badge", "fallback"));
      const t = this.meta.timings;
      const ttft = t && (t.llm_ttft_ms ?? t.ttft_ms); // ttft_ms: answers saved before 0.2
      if (typeof ttft === "number") parts.push(el("span", "muted", `first token ${Math.round(ttft)} ms`));
    }
    this.footer.replaceChildren(...parts);
    this.footer.hidden = parts.length === 0;
  }
}
