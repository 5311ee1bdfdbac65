/**
 * The page worker's recorded masks, for the download: each frame's mask as an index PNG at the frame's native size,
 * keyed by frame index (a later mask of a frame replaces it), and the camera frames dropped while the worker was busy.
 */
import { maskFileName } from './geometry.js';
import { labelsToPng, zipFiles } from './mask-encoding.js';

const MAX_RECORDED = 20000; // masks kept for the download (a few KB each)

/** The masks kept since the last reset, and the dropped camera frames. */
export class MaskRecording {
  constructor() {
    this.frames = new Map(); // frame index -> {index, time, tracked, annotated, width, height, png, ...}, in order
    this.skipped = new Map(); // camera frames dropped while busy: capture index -> time
    this.full = false; // MAX_RECORDED reached: later masks are not kept (the page says so)
  }

  clear() {
    this.frames.clear();
    this.skipped.clear();
    this.full = false;
  }

  /** Camera frames that were not tracked, listed in masks.json. */
  skip(frames = []) {
    for (const f of frames) this.skipped.set(f.index, f.time);
  }

  /** Keep frame `entry.index`'s mask (`labels`, width x height); `extra` is stored with it (debug fields). */
  record(entry, labels, width, height, extra = {}) {
    if (!this.frames.has(entry.index) && this.frames.size >= MAX_RECORDED) {
      this.full = true;
      return;
    }
    Object.assign(entry, { width, height, png: labelsToPng(labels, width, height) }, extra);
    this.frames.delete(entry.index);
    this.frames.set(entry.index, entry);
  }

  /**
   * The zip: `<name>/00000.png` ... (frame index, DAVIS layout, native size, DAVIS palette) and masks.json, which
   * lists every frame: all of a file's (`times`, in order), or the camera frames that were tracked or dropped.
   * `about`: {model, input, backend, variant}, written into masks.json.
   */
  zip({ name = 'video', kind = 'file', times = null }, about) {
    const folder = name.replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_') || 'video';
    const files = {};
    const frames = times
      ? times.map((time, index) => ({ index, time }))
      : [...new Map([...this.skipped, ...[...this.frames.values()].map((r) => [r.index, r.time])])]
          .map(([index, time]) => ({ index, time }))
          .sort((a, b) => a.index - b.index);
    const index = frames.map(({ index: i, time }) => {
      const r = this.frames.get(i);
      if (r) files[`${folder}/${maskFileName(i)}`] = r.png;
      return {
        index: i,
        time,
        tracked: Boolean(r?.tracked),
        annotated: Boolean(r?.annotated),
        file: r ? `${folder}/${maskFileName(i)}` : null,
      };
    });
    const first = this.frames.values().next().value;
    const readme = {
      what:
        "MobileVOS masks: index PNGs (DAVIS palette; 0 = background, i = object i) at the source's native size, " +
        "named by frame index (video files: the frame's position in the video; camera: the capture index). " +
        '`tracked`: the model segmented the frame; `annotated`: the mask is an annotation; `time`: seconds (media time).',
      source: { kind, name, width: first?.width ?? 0, height: first?.height ?? 0, frames: times ? times.length : null },
      model: about.model,
      input: about.input,
      backend: about.backend,
      variant: about.variant,
      complete: !this.full,
      frames: index,
    };
    files['masks.json'] = new TextEncoder().encode(JSON.stringify(readme, null, 1));
    return zipFiles(files);
  }
}
