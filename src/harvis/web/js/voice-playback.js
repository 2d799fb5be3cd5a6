// The answer's audio, played in order as it arrives, with a stop that silences it at once.
// Web Audio schedules each clip right after the previous one, so clauses play gap-free.

export class Player {
  /** @param {(playing: boolean) => void} onChange called when playback starts or ends */
  constructor(onChange) {
    this.onChange = onChange;
    this.ctx = null;
    this.sources = new Set();
    this.nextTime = 0;
    this.chain = Promise.resolve();
    this.generation = 0; // bumped by stop(): clips still being decoded are then dropped
    this.played = 0; // clips that played to their end (tests read it from the panel)
    this.clauses = []; // the answer's clips as scheduled: {index, start, duration} (not fillers)
    this.onPlayed = () => {};
  }

  /** Create or resume the audio context; call from a user gesture (autoplay rules). */
  unlock() {
    if (!this.ctx) this.ctx = new AudioContext();
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
  }

  get playing() {
    return this.sources.size > 0;
  }

  /** Queue a base64 WAV clip after the ones already queued; `index` is the answer's clause
   * number (the server's audio index), null for a filler. */
  enqueue(base64, index = null) {
    const generation = this.generation;
    this.chain = this.chain.then(async () => {
      this.unlock();
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const buffer = await this.ctx.decodeAudioData(bytes.buffer);
      if (generation !== this.generation) return;
      this.schedule(buffer, index);
    }).catch((err) => console.warn("could not play an audio clip", err));
  }

  schedule(buffer, index = null) {
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.ctx.destination);
    const start = Math.max(this.ctx.currentTime + 0.02, this.nextTime);
    this.nextTime = start + buffer.duration;
    if (index === 0) this.clauses = []; // a new answer
    if (index !== null) this.clauses.push({ index, start, duration: buffer.duration });
    const wasPlaying = this.playing;
    this.sources.add(source);
    source.onended = () => {
      if (!this.sources.delete(source)) return; // stopped: not played to its end
      this.played += 1;
      this.onPlayed(this.played);
      if (!this.playing) this.onChange(false);
    };
    source.start(start);
    if (!wasPlaying) this.onChange(true);
  }

  /** How far the answer has played: the clause playing (or the last one that ended) and the
   * seconds into it; null before any of it played. */
  position() {
    if (!this.ctx) return null;
    const now = this.ctx.currentTime;
    const started = this.clauses.filter((c) => c.start <= now);
    if (!started.length) return null;
    const last = started[started.length - 1];
    return { index: last.index, offset_s: Math.min(last.duration, now - last.start) };
  }

  /** Silence now and forget everything queued. */
  stop() {
    this.generation += 1;
    const had = this.playing;
    const sources = [...this.sources];
    this.sources.clear();
    for (const source of sources) {
      try {
        source.stop();
      } catch {
        // never started: nothing to stop
      }
    }
    this.nextTime = 0;
    if (had) this.onChange(false);
  }
}
