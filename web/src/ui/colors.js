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

export const cssColor = ([r, g, b], alpha = 1) => `rgba(${r}, ${g}, ${b}, ${alpha})`;
