/**
 * How label images are numbered and drawn everywhere in the web app (page, workers, bench): 0 is background, i is
 * object i, VOID marks unlabelled pixels (DAVIS), read as background; object i is drawn in OBJECT_COLORS[i - 1].
 * Downloaded index PNGs use the DAVIS palette instead (mask-encoding.js), so that other tools read them.
 */

/** The label of unlabelled pixels in DAVIS-style index masks. */
export const VOID = 255;

/** One colour per object (object i uses OBJECT_COLORS[i - 1]): bright, distinct on video, colour-blind aware order. */
export const OBJECT_COLORS = [
  [255, 93, 115],
  [62, 199, 255],
  [255, 200, 61],
  [61, 220, 151],
  [179, 136, 255],
  [255, 138, 61],
  [0, 229, 229],
  [255, 110, 199],
];

/** A CSS rgba() string of an [r, g, b] colour. */
export const cssColor = ([r, g, b], alpha = 1) => `rgba(${r}, ${g}, ${b}, ${alpha})`;
