/**
 * Frame rate and per-stage latency over the last 30 results (FPS from their time span; `resume()` after a pause
 * restarts the span). `snapshot()` feeds the page and the window.__mobilevos debug hook.
 */
const WINDOW = 30;

export class Stats {
  constructor() {
    this.reset();
  }

  reset() {
    this.frames = 0;
    this.dropped = 0;
    this.times = [];
    this.samples = [];
    this.startedAt = 0;
  }

  /** One tracked frame: stage times in ms ({pre, infer, post, draw, latency}). */
  add(sample, at = performance.now()) {
    if (!this.frames) this.startedAt = at;
    this.frames += 1;
    this.times.push(at);
    if (this.times.length > WINDOW) this.times.shift();
    this.samples.push(sample);
    if (this.samples.length > WINDOW) this.samples.shift();
  }

  resume() {
    this.times = [];
  }

  drop() {
    this.dropped += 1;
  }

  get fps() {
    if (this.times.length < 2) return 0;
    const span = this.times.at(-1) - this.times[0];
    return span > 0 ? ((this.times.length - 1) * 1000) / span : 0;
  }

  mean(key) {
    if (!this.samples.length) return 0;
    return this.samples.reduce((s, x) => s + (x[key] || 0), 0) / this.samples.length;
  }

  snapshot() {
    return {
      fps: this.fps,
      frames: this.frames,
      dropped: this.dropped,
      pre: this.mean('pre'),
      infer: this.mean('infer'),
      post: this.mean('post'),
      draw: this.mean('draw'),
      latency: this.mean('latency'),
    };
  }
}
