// Start-up and wiring: who is logged in, which conversation is open (kept in the URL hash
// so a reload comes back to it), the model picker, the error banner, log-out.

import { api, describeError, setUnauthorizedHandler } from "./api.js";
import { showAuth } from "./auth.js";
import { Chat } from "./chat.js";
import { Sidebar } from "./sidebar.js";
import { mountTimers } from "./timers.js";
import { mountVoice } from "./voice.js";

const $ = (id) => document.getElementById(id);
const MODEL_KEY = "harvis.model";

function showBanner(error) {
  $("banner-text").textContent = typeof error === "string" ? error : describeError(error);
  $("banner").hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

function sessionFromHash() {
  const m = location.hash.match(/^#\/s\/([\w-]+)$/);
  return m ? m[1] : null;
}

async function loadModels() {
  const select = $("model-select");
  try {
    const { default: fallback, models, disabled } = await api.models();
    const names = [...new Set((models || []).map((m) => m.name))];
    if (fallback && !names.includes(fallback)) names.unshift(fallback);
    const loaded = new Set((models || []).filter((m) => m.loaded).map((m) => m.name));
    const healthy = new Set((models || []).filter((m) => m.healthy !== false).map((m) => m.name));
    select.replaceChildren(
      ...names.map((name) => {
        const option = document.createElement("option");
        option.value = name;
        const notes = [];
        if (loaded.has(name)) notes.push("loaded");
        if (!healthy.has(name) && name !== fallback) notes.push("unreachable");
        option.textContent = notes.length ? `${name} (${notes.join(", ")})` : name;
        return option;
      }),
      // Entries the router file names but cannot use (an unset API key): shown, not selectable.
      ...(disabled || [])
        .filter((d) => !names.includes(d.model))
        .map((d) => {
          const option = document.createElement("option");
          option.value = d.model;
          option.disabled = true;
          option.textContent = `${d.model} (disabled: ${d.reason})`;
          return option;
        }),
    );
    const saved = localStorage.getItem(MODEL_KEY);
    select.value = saved && names.includes(saved) ? saved : fallback || names[0] || "";
  } catch (err) {
    showBanner(err);
  }
}

/** Admins can open or close sign-up for others from the header. */
async function setUpAdminToggle(user) {
  const box = $("allow-signup");
  $("signup-toggle").hidden = !user.is_admin;
  if (!user.is_admin) return;
  try {
    box.checked = (await api.adminSettings()).allow_signup;
  } catch (err) {
    showBanner(err);
  }
  box.addEventListener("change", async () => {
    box.disabled = true; // until the server has it
    try {
      box.checked = (await api.setAdminSettings({ allow_signup: box.checked })).allow_signup;
    } catch (err) {
      box.checked = !box.checked;
      showBanner(err);
    } finally {
      box.disabled = false;
    }
  });
}

function startApp(user) {
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  $("user-name").textContent = user.username + (user.is_admin ? " (admin)" : "");

  const setSidebarOpen = (open) => {
    document.body.classList.toggle("sidebar-open", open);
    $("toggle-sidebar").setAttribute("aria-expanded", String(open));
  };

  // A finished answer may have set or cancelled a timer (the model's tools): the list refreshes.
  const timers = mountTimers($("timers"), { onError: showBanner });
  const sidebar = new Sidebar({
    onOpen: (id) => openSession(id),
    onError: showBanner,
    onRenamed: (id) => {
      if (id === chat.sessionId) $("chat-title").textContent = sidebar.titleOf(id);
    },
  });
  const chat = new Chat({
    getModel: () => $("model-select").value,
    onSession: (id, isNew) => {
      // The server made a new session for the first message: show it without reloading.
      history.replaceState(null, "", id ? `#/s/${id}` : location.pathname);
      sidebar.setActive(id);
      if (isNew) sidebar.refresh().then(() => ($("chat-title").textContent = sidebar.titleOf(id)));
    },
    onSend: hideBanner, // an old error no longer applies
    onFinished: () => {
      timers.refresh();
      sidebar.refresh().then(() => {
        if (chat.sessionId) $("chat-title").textContent = sidebar.titleOf(chat.sessionId);
      });
    },
    onError: showBanner,
  });

  // `fromUser`: a choice in the sidebar closes it (on a phone it covers the chat); the first
  // open after loading must not, or it shuts a sidebar the user opened meanwhile.
  async function openSession(id, fromUser = true) {
    hideBanner();
    if (fromUser) setSidebarOpen(false);
    history.replaceState(null, "", id ? `#/s/${id}` : location.pathname);
    sidebar.setActive(id);
    $("chat-title").textContent = id ? sidebar.titleOf(id) : "New chat";
    await chat.open(id);
    $("message-input").focus();
  }

  $("model-select").addEventListener("change", (e) => localStorage.setItem(MODEL_KEY, e.target.value));
  $("logout").addEventListener("click", async () => {
    chat.stop();
    try {
      await api.logout();
    } catch {
      // Logged out already (expired token): the page reload below shows the login screen.
    }
    location.replace(location.pathname);
  });
  $("toggle-sidebar").addEventListener("click", (e) => {
    e.stopPropagation();
    setSidebarOpen(!document.body.classList.contains("sidebar-open"));
  });
  // On a narrow screen the sidebar overlays the chat: a click beside it or Escape closes it.
  document.querySelector(".chat").addEventListener("click", () => setSidebarOpen(false));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") setSidebarOpen(false);
  });
  window.addEventListener("hashchange", () => {
    const id = sessionFromHash();
    if (id !== chat.sessionId) openSession(id);
  });

  mountVoice($("voice-panel"), { api, chat, getModel: () => $("model-select").value, onError: showBanner });
  loadModels();
  setUpAdminToggle(user);
  sidebar.refresh().then(() => {
    // Someone quick may have started asking while the list loaded: leave that conversation be.
    if (!chat.busy && chat.sessionId === null) openSession(sessionFromHash(), false);
  });
}

async function boot() {
  $("banner-close").addEventListener("click", hideBanner);
  // A 401 on any call means the session cookie expired or was revoked: start over.
  setUnauthorizedHandler(() => location.replace(location.pathname));
  let user;
  try {
    user = await api.me();
  } catch (err) {
    if (err.status !== 401) showBanner(err);
    user = await showAuth();
  }
  startApp(user);
}

boot();
