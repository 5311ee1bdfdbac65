/**
 * The bench page's shared state: its settings from the URL, the hook scripts/bench.mjs and the tests read
 * (window.__mobilevosBench: {state, progress, results, error, device, run(), predictions(runIndex)}), the status line
 * and each run's predicted masks.
 */
import { parseSettings } from './config.js';

export const $ = (s) => document.querySelector(s);

export const { settings: initial, unknown } = parseSettings(location.search);

/** The page's state for scripts and tests; main.js adds run() and predictions(). */
export const hook = { state: 'idle', progress: null, results: null, error: null, device: null };
window.__mobilevosBench = hook;

/** Per run: {sequences: [{name, width, height, numFrames, pngs: Map(t -> Uint8Array)}]}, the masks kept for J&F. */
export const predicted = [];

/** The status line. */
export function status(text) {
  $('#status').textContent = text;
}
