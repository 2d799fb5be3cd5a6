// The voice picker and "add a voice" form (reference clip + name + the consent statement,
// which must be ticked and is sent back exactly as shown).

import { describeError } from "./api.js";
import { voiceApi } from "./voice-api.js";

const VOICE_KEY = "harvis.voice";

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export class VoiceLibrary {
  constructor(onError) {
    this.onError = onError;
    this.select = el("select", { id: "voice-select" });
    this.select.setAttribute("aria-label", "Voice");
    this.select.addEventListener("change", () => localStorage.setItem(VOICE_KEY, this.select.value));
    this.consentText = el("span", { className: "consent-text" });
    this.root = el("div", { className: "voice-library" },
      el("label", { className: "voice-picker" }, el("span", { textContent: "Voice" }), this.select),
      this.uploadForm());
  }

  get value() {
    return this.select.value;
  }

  uploadForm() {
    const file = el("input", { type: "file", accept: "audio/*", required: true, id: "voice-file" });
    const name = el("input", { type: "text", maxLength: 80, required: true, id: "voice-name", placeholder: "e.g. My voice" });
    const consent = el("input", { type: "checkbox", required: true, id: "voice-consent" });
    const status = el("p", { className: "small muted", role: "status" });
    const submit = el("button", { type: "submit", className: "secondary", textContent: "Upload voice" });
    const form = el("form", { className: "voice-upload-form" },
      el("label", { htmlFor: "voice-file", textContent: "Reference clip (5–60 s of one person speaking)" }), file,
      el("label", { htmlFor: "voice-name", textContent: "Voice name" }), name,
      el("label", { className: "consent" }, consent, this.consentText), status, submit);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!consent.checked) {
        status.textContent = "Tick the consent statement first.";
        return;
      }
      submit.disabled = true;
      status.textContent = "Uploading…";
      try {
        const voice = await voiceApi.addVoice({ file: file.files[0], name: name.value.trim(), consent: this.consentText.textContent });
        status.textContent = `Added "${voice.name}" (${voice.mode === "match" ? "matched voice" : "cloned voice"}).`;
        form.reset();
        localStorage.setItem(VOICE_KEY, voice.id);
        await this.refresh();
      } catch (err) {
        status.textContent = describeError(err);
      } finally {
        submit.disabled = false;
      }
    });
    return el("details", { className: "voice-upload" }, el("summary", { textContent: "Add a voice" }), form);
  }

  async refresh() {
    try {
      const data = await voiceApi.voices();
      this.consentText.textContent = data.consent_text || "";
      const options = [
        ...(data.builtin || []).map((v) => el("option", { value: v.id, textContent: v.name })),
        ...(data.voices || []).map((v) => el("option", { value: v.id, textContent: `${v.name} (${v.mode === "match" ? "matched" : "cloned"})` })),
      ];
      this.select.replaceChildren(...options);
      const saved = localStorage.getItem(VOICE_KEY);
      if (saved && options.some((o) => o.value === saved)) this.select.value = saved;
    } catch (err) {
      this.onError(err);
    }
  }
}
