/**
 * The shipped students, each a folder under models/ with its own manifest (the page downloads only the chosen one).
 * Plain data, so the page, the Vite config, the bench and the tests read the same list and the same default.
 *
 * The full Lite0 student is the default. Balanced (Lite0 pruned to half of each block's expanded channels) tracks as
 * well on the selection sequences (72.5 against 72.8 J&F) at ~1.2x the FPS, but its click head's first click is worse
 * (mean IoU 0.57 against 0.68 on 39 selection objects; 58.0 against 69.9 J&F tracked from one click), and a visitor
 * starts with a click. Fast tracks ~1.7x faster but 8.6 J&F lower: a lost object costs more than dropped frames do
 * (README, "The pruned student as a page model").
 */
export const MODELS = {
  student: ['Accurate (Lite0)', 'The full Lite0 student: the default'],
  student_pruned: [
    'Balanced (pruned)',
    'The Lite0 student at half width: ~1.2x faster on WASM, tracks as well, weaker first click',
  ],
  student_fast: [
    'Fast (dense)',
    'The student with the dense key encoder: ~1.7x faster on WASM, less accurate, no click tool',
  ],
};

/** The model the page loads unless the visitor chose another (?model=, Settings → Model). */
export const DEFAULT_MODEL = 'student';
