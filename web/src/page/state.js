/**
 * The page's state, shared by its modules: the elements it draws into, the source, the annotator, the stats, and
 * `app`, what the page is doing (mode, worker, objects, the frame being tracked, ...).
 */
import { OBJECT_COLORS } from '../labels.js';
import { Annotator } from '../ui/annotator.js';
import { Banner } from '../ui/messages.js';
import { Source } from '../ui/source.js';
import { Stats } from '../ui/stats.js';

export const $ = (selector) => document.querySelector(selector);
export const $$ = (selector) => [...document.querySelectorAll(selector)];

export const video = $('#video');
export const view = $('#view');
export const viewCtx = view.getContext('2d');
export const stage = $('#stage');
export const banner = new Banner($('#banner'));
export const source = new Source(video);
export const stats = new Stats();
export const annotator = new Annotator($('#annot')); // main.js sets its onChange (view.js imports this module)
export const app = {
  mode: 'idle', // idle | live | annotating | tracking | paused
  worker: null,
  ready: false,
  info: null,
  model: null,
  objects: ['Object 1'],
  active: 1,
  file: null, // VideoFile of a file or the sample clip (null for the camera)
  next: 0, // file: index of the next frame to track
  run: 0, // file: id of the current tracking pass (a pause or re-annotation ends it)
  skipped: [], // camera: frames dropped since the last one sent, {index, time}
  frozen: null, // {bitmap, index, time}
  lastFrame: null, // last displayed tracked frame (ImageBitmap) and its index and time
  lastIndex: 0,
  lastTime: 0,
  lastLabels: null, // its labels at native size
  areas: [],
  inFlight: 0,
  trackedObjects: 0,
  recorder: null, // {stop()} of the overlay video being recorded; a file's also has add(index, time)
  debugFrames: [],
  annotationSignature: null,
  promptFrame: null, // the frozen frame the worker holds the encoding of (click tool)
  lastPrompt: null, // the last click's timings (ms) and, with ?debug=1, its prob at model resolution
  promptInput: null, // ?debug=1: the model input (RGBA bytes) the worker encoded for the clicks
  clickHead: null, // the worker asked to prepare the click head (page/model.js warmClickHead)
  autoTrack: false, // ?start=sample: Track is about to be pressed for the visitor
};
annotator.colors = OBJECT_COLORS;
