// The microphone: a recorded clip for push-to-talk (MediaRecorder, WebM/Opus), or a live
// stream of 16 kHz PCM16 frames for hands-free mode (AudioWorklet).

const MIC = { audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } };

function micError(err) {
  if (err && err.name === "NotAllowedError") return new Error("Microphone access was refused. Allow it in the browser to talk to Harvis.");
  if (err && err.name === "NotFoundError") return new Error("No microphone was found.");
  if (!navigator.mediaDevices) return new Error("This page has no microphone access (it needs https or localhost).");
  return err instanceof Error ? err : new Error(String(err));
}

async function openMic() {
  if (!navigator.mediaDevices) throw micError(null);
  try {
    return await navigator.mediaDevices.getUserMedia(MIC);
  } catch (err) {
    throw micError(err);
  }
}

/** Start recording a clip; `stop()` resolves to the Blob, `cancel()` drops it. */
export async function recordClip(onLevelMs) {
  const stream = await openMic();
  const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"].find((t) => MediaRecorder.isTypeSupported(t));
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
  const chunks = [];
  const started = performance.now();
  recorder.ondataavailable = (e) => {
    if (e.data.size) chunks.push(e.data);
    onLevelMs(performance.now() - started);
  };
  recorder.start(250);
  const release = () => stream.getTracks().forEach((t) => t.stop());
  return {
    stop: () => new Promise((resolve) => {
      recorder.onstop = () => {
        release();
        resolve(new Blob(chunks, { type: recorder.mimeType || "audio/webm" }));
      };
      recorder.stop();
    }),
    cancel: () => {
      recorder.onstop = release;
      if (recorder.state !== "inactive") recorder.stop();
    },
  };
}

/** Stream the microphone as 16 kHz PCM16 ArrayBuffers to `onFrame`; returns a stop function. */
export async function streamPcm(onFrame) {
  const stream = await openMic();
  let ctx;
  try {
    ctx = new AudioContext({ sampleRate: 16000 });
  } catch {
    ctx = new AudioContext(); // the worklet resamples
  }
  await ctx.audioWorklet.addModule(new URL("./pcm-worklet.js", import.meta.url));
  const source = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm16-capture");
  node.port.onmessage = (e) => onFrame(e.data);
  const mute = ctx.createGain(); // keeps the node pulled by the graph without playing the mic
  mute.gain.value = 0;
  source.connect(node).connect(mute).connect(ctx.destination);
  return () => {
    node.port.onmessage = null;
    stream.getTracks().forEach((t) => t.stop());
    ctx.close().catch(() => {});
  };
}
