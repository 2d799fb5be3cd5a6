// The log-in / sign-up screen.

import { api, describeError } from "./api.js";

const $ = (id) => document.getElementById(id);

/**
 * Show the auth screen; resolves with the user once they have logged in (a sign-up logs in
 * right after, so both paths end with the session cookie set).
 */
export function showAuth() {
  const view = $("auth-view");
  const form = $("auth-form");
  const error = $("auth-error");
  const submit = $("auth-submit");
  const tabs = { login: $("tab-login"), signup: $("tab-signup") };
  let mode = "login";

  const setMode = (next) => {
    mode = next;
    for (const [name, tab] of Object.entries(tabs)) tab.setAttribute("aria-selected", String(name === mode));
    form.setAttribute("aria-labelledby", tabs[mode].id);
    submit.textContent = mode === "login" ? "Log in" : "Create account";
    $("auth-password").autocomplete = mode === "login" ? "current-password" : "new-password";
    error.hidden = true;
  };

  const showError = (text) => {
    error.textContent = text;
    error.hidden = false;
  };

  view.hidden = false;
  $("app-view").hidden = true;
  setMode("login");
  api
    .authConfig()
    .then((config) => {
      const open = Boolean(config && config.signup_open);
      const first = Boolean(config && config.first_user);
      tabs.signup.hidden = !open;
      $("signup-closed").hidden = open;
      $("signup-first").hidden = !first;
      if (first) setMode("signup");
    })
    .catch(() => {
      tabs.signup.hidden = true;
      $("signup-closed").hidden = false;
    });

  return new Promise((resolve) => {
    tabs.login.onclick = () => setMode("login");
    tabs.signup.onclick = () => setMode("signup");
    form.onsubmit = async (event) => {
      event.preventDefault();
      const username = $("auth-username").value.trim();
      const password = $("auth-password").value;
      if (!username || !password) return showError("Enter a username and a password.");
      submit.disabled = true;
      try {
        if (mode === "signup") await api.signup(username, password);
        const result = await api.login(username, password);
        form.reset();
        view.hidden = true;
        resolve(result.user || (await api.me()));
      } catch (err) {
        if (err.status === 401) showError("Wrong username or password.");
        else if (err.code === "signup_disabled") showError("Sign-up is closed. Ask an administrator for an account.");
        else showError(describeError(err));
      } finally {
        submit.disabled = false;
      }
    };
  });
}
