/**
 * Sources: a video file or the sample clip (decoded frame by frame, ui/video-file.js, every frame tracked) or a
 * camera (live, frames dropped while the worker is busy); and back to the open source with nothing annotated.
 */
import { VideoFile } from '../ui/video-file.js';
import { applyMask, freeze, resetAnnotation } from './annotating.js';
import { MARKS, markOnce } from './marks.js';
import { $, app, banner, source, stage, stats, video, view } from './state.js';
import { stopTracking } from './tracking.js';
import { renderStats, setMode, setStatus, showFileProgress } from './view.js';

/** Open the camera, the sample clip or (through the file picker) a video file. */
export async function openSource(kind) {
  banner.hide();
  if (kind === 'file') return $('#file-video').click();
  await stopTracking();
  closeFile();
  try {
    if (kind === 'camera') await source.camera();
    else {
      const url = new URL('sample/sample.mp4', document.baseURI).href;
      const response = await fetch(url);
      if (!response.ok)
        throw Object.assign(new Error(`sample clip: HTTP ${response.status}`), { code: 'video-unreadable' });
      app.file = await VideoFile.open(await response.blob());
      await source.sample(url);
    }
  } catch (error) {
    closeFile();
    setMode(source.kind === 'none' ? 'idle' : 'live');
    return banner.show(error.code || 'video-unreadable', {
      detail: error.code === 'camera-failed' || error.code === 'video-unreadable' ? error.message : '',
      actions: error.code?.startsWith('camera')
        ? [
            ['Open a video', () => openSource('file')],
            ['Sample clip', () => openSource('sample')],
          ]
        : [],
    });
  }
  afterSourceOpened();
  if (kind === 'sample') await annotateSampleStart();
}

/** Open a picked video file: decoded frame by frame (ui/video-file.js), shown in the `<video>` element. */
export async function openFile(file) {
  await stopTracking();
  closeFile();
  try {
    app.file = await VideoFile.open(file);
    await source.file(file);
  } catch (error) {
    closeFile();
    source.stop();
    setMode('idle');
    return banner.show(error.code || 'video-unreadable', { detail: `(${file.name}: ${error.message})` });
  }
  afterSourceOpened();
}

function closeFile() {
  app.file?.close();
  app.file = null;
  app.next = 0;
  showFileProgress(null);
}

function afterSourceOpened() {
  video.playbackRate = 1;
  stage.style.setProperty('--aspect', `${source.width} / ${source.height}`);
  stage.style.setProperty('--aspect-num', String(source.width / source.height));
  view.width = source.width;
  view.height = source.height;
  const kind = source.kind === 'camera' ? 'Camera' : source.kind === 'sample' ? 'Sample clip' : 'File';
  $('#source-info').textContent =
    `${kind}: ${source.label} (${source.width}×${source.height}` +
    (app.file
      ? `, ${app.file.count} frames). Processed frame by frame: every frame is tracked, as fast as this ` +
        'device allows, so the preview may run slower or faster than the video.'
      : '). Live: frames that arrive while ' + 'the model is busy are skipped.');
  resetAnnotation();
  setMode('live');
}

let sampleMask = null;

/** The sample clip's own first-frame mask, PNG bytes (fetched once; again after a failure). */
export function sampleMaskBytes() {
  sampleMask ??= fetch(new URL('sample/sample-mask.png', document.baseURI)).then(async (response) => {
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  });
  sampleMask.catch(() => (sampleMask = null));
  return sampleMask;
}

/**
 * The sample clip opens frozen on its first frame with its mask loaded: press Track. The mask's bytes are awaited
 * before the frame is frozen: once the page is annotating, the visitor may upload or paint a mask of their own, which
 * the sample's mask arriving later must not replace (nor hide the banner about it).
 */
async function annotateSampleStart() {
  let bytes = null;
  try {
    bytes = await sampleMaskBytes();
  } catch (error) {
    // the sample works without its mask: say so, and the visitor paints one
    console.warn('sample mask not loaded:', error);
  }
  await freeze();
  if (!bytes) setStatus('Sample mask not loaded: paint the object, then press Track');
  else if (applyMask(bytes)) markOnce(MARKS.sampleReady);
}

/** Forget the annotation, the masks and the stats; back to the live source (or idle). */
export async function reset() {
  await stopTracking();
  // the page resets whatever the worker answers (a worker that failed has already shown its error)
  await app.worker?.request('reset').catch((e) => console.warn(`worker reset failed: ${e.message}`));
  resetAnnotation();
  app.areas = [];
  app.trackedObjects = 0;
  app.next = 0;
  app.skipped = [];
  showFileProgress(null);
  stats.reset();
  renderStats();
  setStatus('');
  if (source.kind !== 'none') {
    setMode('live');
    if (source.live) video.play().catch((e) => console.warn(`the live preview did not resume: ${e.message}`));
  } else setMode('idle');
}
