// AudioWorklet: microphone samples → 16 kHz mono PCM16 frames of 100 ms for the realtime
// socket. Resamples (linear) when the context does not run at 16 kHz itself.

const TARGET_RATE = 16000;
const FRAME = 1600; // samples: 100 ms

class Pcm16Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    this.pos = 0; // fractional read position into the current input block
    this.last = 0; // the previous block's last sample, for interpolation across blocks
    this.frame = new Int16Array(FRAME);
    this.n = 0;
  }

  push(value) {
    const s = Math.max(-1, Math.min(1, value));
    this.frame[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    if (this.n === FRAME) {
      this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
      this.frame = new Int16Array(FRAME);
      this.n = 0;
    }
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    if (this.step === 1) {
      for (let i = 0; i < input.length; i++) this.push(input[i]);
      return true;
    }
    while (this.pos < input.length) {
      const i = Math.floor(this.pos);
      const frac = this.pos - i;
      const a = i === 0 ? this.last : input[i - 1];
      const b = input[i];
      this.push(a + (b - a) * frac);
      this.pos += this.step;
    }
    this.pos -= input.length;
    this.last = input[input.length - 1];
    return true;
  }
}

registerProcessor("pcm16-capture", Pcm16Capture);
