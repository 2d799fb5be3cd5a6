// The list of conversations: open, rename (inline), delete.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);

export class Sidebar {
  /** @param {{onOpen(id: string|null): void, onError(err: Error): void}} handlers */
  constructor(handlers) {
    this.handlers = handlers;
    this.sessions = [];
    this.activeId = null;
    this.list = $("session-list");
    $("new-chat").addEventListener("click", () => handlers.onOpen(null));
  }

  async refresh() {
    try {
      this.sessions = await api.sessions();
    } catch (err) {
      this.handlers.onError(err);
    }
    this.render();
  }

  titleOf(id) {
    const s = this.sessions.find((x) => x.id === id);
    return s ? s.title || "Untitled" : "New chat";
  }

  setActive(id) {
    this.activeId = id;
    for (const li of this.list.children) {
      const open = li.querySelector(".session-open");
      if (open) open.setAttribute("aria-current", li.dataset.id === id ? "page" : "false");
    }
  }

  render() {
    this.list.replaceChildren(...this.sessions.map((s) => this.item(s)));
    $("sessions-empty").hidden = this.sessions.length > 0;
    this.setActive(this.activeId);
  }

  item(session) {
    const li = document.createElement("li");
    li.className = "session";
    li.dataset.id = session.id;
    const title = session.title || "Untitled";

    const open = document.createElement("button");
    open.type = "button";
    open.className = "session-open";
    open.append(Object.assign(document.createElement("span"), { textContent: title }));
    open.title = title;
    open.addEventListener("click", () => this.handlers.onOpen(session.id));

    const rename = document.createElement("button");
    rename.type = "button";
    rename.className = "icon-button";
    rename.textContent = "✎";
    rename.setAttribute("aria-label", `Rename ${title}`);
    rename.addEventListener("click", () => this.startRename(li, session));

    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon-button";
    remove.textContent = "🗑";
    remove.setAttribute("aria-label", `Delete ${title}`);
    remove.addEventListener("click", () => this.remove(session));

    li.append(open, rename, remove);
    return li;
  }

  startRename(li, session) {
    const form = document.createElement("form");
    form.className = "rename-form";
    const input = document.createElement("input");
    input.value = session.title || "";
    input.maxLength = 200;
    input.setAttribute("aria-label", "Session title");
    form.append(input);
    li.replaceChildren(form);
    input.focus();
    input.select();

    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      if (save && title && title !== session.title) {
        try {
          await api.renameSession(session.id, title);
        } catch (err) {
          this.handlers.onError(err);
        }
      }
      await this.refresh();
      this.handlers.onRenamed?.(session.id);
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      finish(true);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
  }

  async remove(session) {
    if (!window.confirm(`Delete “${session.title || "Untitled"}”? This cannot be undone.`)) return;
    try {
      await api.deleteSession(session.id);
    } catch (err) {
      if (err.status !== 404) return this.handlers.onError(err);
    }
    if (this.activeId === session.id) this.handlers.onOpen(null);
    await this.refresh();
  }
}
