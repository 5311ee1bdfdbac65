/**
 * The shipped students, each a folder under models/ with its own manifest (the page downloads only the chosen one).
 * Plain data, so the page, the Vite config, the bench and the tests read the same list and the same default.
 *
 * Balanced (Lite0 pruned to half of each block's expanded channels) is the default: on the selection sequences it
 * tracks within 0.5 J&F of Accurate (72.4 against 72.8; fine-tuned in session 20 for the smaller inputs Auto steps
 * down to: 68.5 at short side 176, Accurate 69.2), its click head reads Accurate's key encoder (its own graph,
 * prompt_encoder.onnx) so a visitor's first click is Accurate's (tracked from one click: 68.7 against 69.9), and it
 * runs ~1.26x the frames per second on WASM. Accurate is the full Lite0 student; Fast tracks ~1.7x faster but
 * 8.6 J&F lower: a lost object costs more than dropped frames do (docs/experiments.md, "Balanced as the default").
 */
export const MODELS = {
  student_pruned: ['Balanced (pruned)', 'The Lite0 student at half width: the default, ~1.26x the speed of Accurate'],
  student: ['Accurate (Lite0)', 'The full Lite0 student: the reference, ~0.8x the speed of Balanced'],
  student_fast: [
    'Fast (dense)',
    'The student with the dense key encoder: ~1.7x faster on WASM than Accurate, less accurate, no click tool',
  ],
};

/** A shipped model's folder, relative to the site's root: where its manifest and graphs are served. */
export function modelFolder(name) {
  return `models/${name}/`;
}

/** The model the page loads unless the visitor chose another (?model=, Settings → Model). */
export const DEFAULT_MODEL = 'student_pruned';
