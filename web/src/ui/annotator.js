/**
 * The annotation layer: a label image at the frozen frame's resolution (0 background, i = object i) edited with
 * pointer events (mouse, pen and touch alike): brush, eraser and box. Drawn as the same translucent overlay the
 * tracker shows. Pure canvas work on the main thread, only while annotating.
 *
 * The click tool only reports prompts (`onPrompt`): a click {click: {x, y, positive}} (left: positive; right or
 * Alt: negative) or, for a drag, {box: {x0, y0, x1, y1}} (inclusive frame pixels); the page asks the model for the
 * mask and gives it back with `setObjectMask`. `prompts` (object id -> its prompts) are drawn as markers.
 */
import { overlayRgba } from '../postprocess.js';
import { resizeLabelsNearest } from '../preprocess.js';

const DRAG_PIXELS = 6; // a click-tool pointer that moves less than this (CSS pixels) is a click, else a box

export class Annotator {
  constructor(canvas, { onChange = () => {}, onPrompt = () => {} } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.onChange = onChange;
    this.onPrompt = onPrompt;
    /** @type {Map<number, object[]>} object id -> its click-tool prompts, drawn for the active object */
    this.prompts = new Map();
    this.tool = 'brush';
    this.size = 18; // brush radius in CSS pixels
    this.active = 1;
    this.colors = [];
    this.labels = new Uint8Array(0);
    this.width = 0;
    this.height = 0;
    this.stroke = null;
    this.pending = false;
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', (e) => this.up(e));
    canvas.addEventListener('contextmenu', (e) => {
      if (this.tool === 'click') e.preventDefault(); // the right click is a negative click
    });
  }

  /** Start editing a width x height frame, from `labels` (resized if another size) or empty. */
  begin(width, height, labels = null, labelsWidth = width, labelsHeight = height) {
    this.width = width;
    this.height = height;
    this.canvas.width = width;
    this.canvas.height = height;
    this.image = this.ctx.createImageData(width, height);
    this.labels = labels
      ? resizeLabelsNearest(labels, labelsWidth, labelsHeight, width, height)
      : new Uint8Array(width * height);
    this.render();
  }

  setLabels(labels, width, height) {
    this.labels = resizeLabelsNearest(labels, width, height, this.width, this.height);
    this.render();
    this.onChange();
  }

  /** Pixel count of each object 1..n. */
  areas(n) {
    const areas = new Array(n).fill(0);
    for (let p = 0; p < this.labels.length; p++)
      if (this.labels[p] && this.labels[p] <= n) areas[this.labels[p] - 1] += 1;
    return areas;
  }

  /** Object `id` becomes `mask` (1 = object, at the frame's size) where no other object is; its old pixels go. */
  setObjectMask(id, mask) {
    for (let p = 0; p < this.labels.length; p++) {
      if (mask[p] && (this.labels[p] === 0 || this.labels[p] === id)) this.labels[p] = id;
      else if (this.labels[p] === id) this.labels[p] = 0;
    }
    this.render();
    this.onChange();
  }

  clearObject(id) {
    for (let p = 0; p < this.labels.length; p++) if (this.labels[p] === id) this.labels[p] = 0;
    this.render();
    this.onChange();
  }

  clearAll() {
    this.labels.fill(0);
    this.render();
    this.onChange();
  }

  /** Remove object `id`: its pixels become background and later objects move down one id (their prompts too). */
  removeObject(id) {
    const kept = [...this.prompts].filter(([k]) => k !== id);
    this.prompts = new Map(kept.map(([k, v]) => [k > id ? k - 1 : k, v]));
    for (let p = 0; p < this.labels.length; p++) {
      const v = this.labels[p];
      if (v === id) this.labels[p] = 0;
      else if (v > id) this.labels[p] = v - 1;
    }
    this.render();
    this.onChange();
  }

  /** Canvas pixel under a pointer event (the canvas is shown with object-fit: contain). */
  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    const scale = Math.min(rect.width / this.width, rect.height / this.height);
    const offsetX = (rect.width - this.width * scale) / 2;
    const offsetY = (rect.height - this.height * scale) / 2;
    return { x: (event.clientX - rect.left - offsetX) / scale, y: (event.clientY - rect.top - offsetY) / scale, scale };
  }

  down(event) {
    const prompting = this.tool === 'click';
    if (!this.width || (event.button > 0 && !(prompting && event.button === 2))) return;
    event.preventDefault();
    try {
      this.canvas.setPointerCapture(event.pointerId); // keep the stroke when the finger leaves the canvas
    } catch {
      /* synthetic or already released pointer */
    }
    const p = this.point(event);
    this.stroke = { id: event.pointerId, start: p, last: p, negative: event.button === 2 || event.altKey };
    if (this.tool !== 'box' && !prompting) this.stamp(p.x, p.y, this.size / p.scale);
    this.schedule();
  }

  move(event) {
    if (!this.stroke || event.pointerId !== this.stroke.id) return;
    event.preventDefault();
    const events = typeof event.getCoalescedEvents === 'function' ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const p = this.point(e);
      if (this.tool === 'box' || this.tool === 'click') this.stroke.last = p;
      else {
        this.line(this.stroke.last, p, this.size / p.scale);
        this.stroke.last = p;
      }
    }
    this.schedule();
  }

  up(event) {
    if (!this.stroke || event.pointerId !== this.stroke.id) return;
    if (this.tool === 'click') {
      const { start, negative } = this.stroke;
      this.stroke = null;
      this.schedule();
      return this.onPrompt(this.prompt(start, this.point(event), negative));
    }
    if (this.tool === 'box') {
      const a = this.stroke.start;
      const b = this.point(event);
      this.fillRect(Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(a.x - b.x), Math.abs(a.y - b.y));
    }
    this.stroke = null;
    this.schedule();
    this.onChange();
  }

  /** The click tool's prompt from a pointer's start and end: a click where they (nearly) meet, else a box. */
  prompt(a, b, negative) {
    const clamp = (v, size) => Math.min(size - 1, Math.max(0, Math.floor(v)));
    if (Math.hypot(b.x - a.x, b.y - a.y) * a.scale < DRAG_PIXELS) {
      return { click: { x: clamp(a.x, this.width), y: clamp(a.y, this.height), positive: !negative } };
    }
    return {
      box: {
        x0: clamp(Math.min(a.x, b.x), this.width),
        y0: clamp(Math.min(a.y, b.y), this.height),
        x1: clamp(Math.max(a.x, b.x), this.width),
        y1: clamp(Math.max(a.y, b.y), this.height),
      },
    };
  }

  value() {
    return this.tool === 'eraser' ? 0 : this.active;
  }

  stamp(cx, cy, r) {
    const v = this.value();
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(this.width - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(this.height - 1, Math.ceil(cy + r));
    const r2 = r * r;
    for (let y = y0; y <= y1; y++) {
      const dy = y + 0.5 - cy;
      for (let x = x0; x <= x1; x++) {
        const dx = x + 0.5 - cx;
        if (dx * dx + dy * dy <= r2) this.labels[y * this.width + x] = v;
      }
    }
  }

  line(a, b, r) {
    const steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / Math.max(1, r / 2)));
    for (let i = 1; i <= steps; i++) this.stamp(a.x + ((b.x - a.x) * i) / steps, a.y + ((b.y - a.y) * i) / steps, r);
  }

  fillRect(x, y, w, h) {
    const v = this.value();
    const x0 = Math.max(0, Math.round(x));
    const x1 = Math.min(this.width, Math.round(x + w));
    for (let yy = Math.max(0, Math.round(y)); yy < Math.min(this.height, Math.round(y + h)); yy++) {
      this.labels.fill(v, yy * this.width + x0, yy * this.width + Math.max(x0, x1));
    }
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  render() {
    if (!this.width) return;
    overlayRgba(this.labels, this.width, this.height, this.colors, { fillAlpha: 120 }, this.image.data);
    this.ctx.putImageData(this.image, 0, 0);
    const [r, g, bl] = this.colors[this.active - 1] || [255, 255, 255];
    const line = Math.max(2, this.width / 320);
    if (this.stroke && (this.tool === 'box' || this.tool === 'click')) {
      const { start: a, last: b } = this.stroke;
      this.dashedRect(Math.min(a.x, b.x), Math.min(a.y, b.y), Math.abs(a.x - b.x), Math.abs(a.y - b.y), r, g, bl);
    }
    if (this.tool === 'click') this.drawMarkers(this.prompts.get(this.active) ?? [], line, [r, g, bl]);
  }

  dashedRect(x, y, w, h, r, g, b) {
    this.ctx.save();
    this.ctx.strokeStyle = `rgb(${r}, ${g}, ${b})`;
    this.ctx.lineWidth = Math.max(2, this.width / 320);
    this.ctx.setLineDash([8, 6]);
    this.ctx.strokeRect(x, y, w, h);
    this.ctx.restore();
  }

  /** The active object's clicks (a filled dot: green with + adds, red with − removes) and its latest box. */
  drawMarkers(prompts, line, [r, g, b]) {
    const box = prompts.findLast((p) => p.box)?.box;
    if (box) this.dashedRect(box.x0, box.y0, box.x1 - box.x0 + 1, box.y1 - box.y0 + 1, r, g, b);
    const radius = 4 * line;
    const ctx = this.ctx;
    ctx.save();
    for (const { click } of prompts.filter((p) => p.click)) {
      const cx = click.x + 0.5;
      const cy = click.y + 0.5;
      ctx.beginPath();
      ctx.arc(cx, cy, radius, 0, 2 * Math.PI);
      ctx.fillStyle = click.positive ? 'rgb(40, 200, 90)' : 'rgb(230, 50, 50)';
      ctx.fill();
      ctx.lineWidth = line / 2;
      ctx.strokeStyle = 'white';
      ctx.stroke();
      ctx.beginPath();
      ctx.moveTo(cx - radius / 2, cy);
      ctx.lineTo(cx + radius / 2, cy);
      if (click.positive) {
        ctx.moveTo(cx, cy - radius / 2);
        ctx.lineTo(cx, cy + radius / 2);
      }
      ctx.stroke();
    }
    ctx.restore();
  }
}
