// The list of conversations: open, rename (inline), delete.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
// Line icons as SVG paths: emoji glyphs are missing from many systems' fonts.
const ICONS = {
  rename: "M4 20h4L19 9l-4-4L4 16zM13.5 6.5l4 4",
  delete: "M4 7h16M10 7V4h4v3M6.5 7l1 13h9l1-13M10 11v6M14 11v6",
};

function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "2");
  path.setAttribute("stroke-linecap", "round");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  return svg;
}

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
    rename.append(icon("rename"));
    rename.setAttribute("aria-label", `Rename ${title}`);
    rename.addEventListener("click", () => this.startRename(li, session));

    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "icon-button";
    remove.append(icon("delete"));
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
