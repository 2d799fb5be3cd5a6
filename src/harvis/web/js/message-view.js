// One message in the conversation: text (Markdown for answers), reasoning and the tools it
// used in collapsible blocks, and a line saying how it ended (stopped, error …) and who answered.

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
    // Saved calls: {name, arguments, result, ok, ms}; live ones gain result/ok when they end.
    this.tools = (message.tool_calls || []).map((call) => ({ ...call }));
    this.notices = [];
    this.id = message.id || null;
    this.scheduled = false;

    this.root = el("article", `message message-${this.role}`);
    this.root.setAttribute("aria-label", this.role === "user" ? "Your message" : "Harvis's answer");
    const head = el("div", "message-head", this.role === "user" ? "You" : "Harvis");
    if (message.kind === "voice") head.append(el("span", "badge", "voice"));
    this.details = el("details", "reasoning");
    this.details.append(el("summary", "", "Reasoning"));
    this.reasoningText = this.details.appendChild(el("div", "reasoning-text"));
    this.toolsBlock = el("details", "reasoning tools");
    this.toolsSummary = this.toolsBlock.appendChild(el("summary", "", "Tools"));
    this.toolsList = this.toolsBlock.appendChild(el("ol", "tool-list"));
    this.body = el("div", "message-body");
    this.footer = el("div", "message-meta");
    this.root.append(head, this.details, this.toolsBlock, this.body, this.footer);
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

  /** A `tool_call` event: the call shows at once, its result when `tool_result` comes. */
  toolCall(data) {
    this.tools.push({ round: data.round, index: data.index, name: data.name, arguments: data.arguments || {}, result: null, ok: null });
    this.schedule();
  }

  toolResult(data) {
    const call = this.tools.find((c) => c.round === data.round && c.index === data.index && c.result === null);
    if (call) Object.assign(call, { result: data.result, ok: data.ok, ms: data.ms });
    this.schedule();
  }

  /** A `tool_notice` event (no tool support, too many tool rounds): said in the footer. */
  toolNotice(data) {
    this.notices.push(data.message || data.code);
    this.schedule();
  }

  renderTools() {
    this.toolsBlock.hidden = this.tools.length === 0;
    const running = this.tools.some((c) => c.result === null || c.result === undefined);
    const label = this.tools.length === 1 ? "1 tool call" : `${this.tools.length} tool calls`;
    this.toolsSummary.textContent = running && this.status === "streaming" ? `${label}…` : label;
    this.toolsList.replaceChildren(
      ...this.tools.map((call) => {
        const item = el("li", call.ok === false ? "tool-call tool-failed" : "tool-call");
        // Text only: arguments and results come from the model and the tools, never as HTML.
        item.append(el("code", "", `${call.name}(${JSON.stringify(call.arguments || {})})`));
        if (call.result !== null && call.result !== undefined) {
          const ms = typeof call.ms === "number" ? ` · ${Math.round(call.ms)} ms` : "";
          item.append(el("div", "tool-result", `→ ${call.result}${ms}`));
        } else {
          item.append(el("div", "tool-result muted", "running…"));
        }
        return item;
      }),
    );
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
    this.renderTools();
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
    for (const notice of this.notices) parts.push(el("span", "badge", notice));
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
