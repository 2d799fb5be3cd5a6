// Shows one voice exchange in the chat as its events arrive (from the SSE turn or the
// realtime socket): the transcript as your message, the answer streaming in, its audio
// queued for playback.

import { describeError } from "./api.js";
import { MessageView } from "./message-view.js";

export class VoiceTurnView {
  /** @param {{chat: any, player: any, model: string, onError(e: any): void}} ctx */
  constructor(ctx) {
    this.ctx = ctx;
    this.question = null;
    this.answer = null;
    this.spoken = [];
    this.ended = false;
  }

  handle(type, data) {
    const { chat, player } = this.ctx;
    if (type === "session") {
      chat.adopt(data.session_id);
      this.ids = data;
    } else if (type === "transcript") {
      this.question = chat.add(new MessageView({ role: "user", kind: "voice", content: data.text, id: this.ids?.user_message_id }));
      this.answer = chat.add(new MessageView({ role: "assistant", kind: "voice", status: "streaming", model: this.ctx.model, id: this.ids?.assistant_message_id }));
    } else if (type === "reasoning") {
      this.answer?.appendReasoning(data.text || "");
    } else if (type === "tool_call") {
      this.answer?.toolCall(data);
    } else if (type === "tool_result") {
      this.answer?.toolResult(data);
    } else if (type === "tool_notice") {
      this.answer?.toolNotice(data);
    } else if (type === "token") {
      this.answer?.appendContent(data.text || "");
      chat.followBottom();
    } else if (type === "audio" || type === "filler") {
      player.enqueue(data.data, type === "audio" ? data.index : null);
      if (type === "audio") this.spoken.push(data.text || "");
    } else if (type === "done") {
      this.finish(data.status || "complete", data);
    } else if (type === "error") {
      if (this.answer) this.answer.update({ status: "error", error: describeError(data) });
      this.ctx.onError(data);
      this.ended = true;
    }
  }

  /** The server saved the answer cut to what was heard (after a playback report). */
  heard(text) {
    if (!this.answer) return;
    this.answer.content = text;
    this.answer.update({ status: "interrupted" });
  }

  /** The answer ended; an interrupted one shows only what was spoken, as the server saved it. */
  finish(status, data = {}) {
    if (this.ended) return;
    this.ended = true;
    if (!this.answer) return;
    if (status === "interrupted") {
      this.answer.content = this.spoken.join(" ");
    }
    this.answer.update({ ...data, status, id: data.message_id || this.answer.id });
    this.ctx.chat.turnFinished();
  }
}
