// The voice controls of issue 5 (mic button, listening/thinking/speaking state, playback
// queue, voice picker, voice upload) mount here. Until they exist the panel stays hidden.
//
// mountVoice(panel, ctx) is called once after log-in with:
//   panel: the empty, hidden <section id="voice-panel"> above the composer
//   ctx.api: the API helpers of api.js; ctx.chat: the Chat (its .sessionId, .add(view),
//   .open(id)); ctx.getModel(): the picked model; ctx.onError(err): show the error banner.

export function mountVoice(panel, ctx) {
  void ctx;
  panel.hidden = true;
}
