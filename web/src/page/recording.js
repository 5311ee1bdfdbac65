/** Saving: the recorded masks (.zip, from the worker) and the overlay video (frame + masks at the source's size). */
import { OverlayVideo } from '../ui/overlay-video.js';
import { saveFile } from '../ui/save-file.js';
import { $, app, banner, source, view } from './state.js';

/** Masks (.zip): every recorded mask as an index PNG, and masks.json. */
export async function downloadMasks() {
  const reply = await app.worker.request('masks', {
    kind: source.kind,
    name: source.kind === 'file' ? source.label : source.kind,
    times: app.file?.times ?? null,
    skipped: app.skipped.splice(0), // camera frames dropped after the last one sent
  });
  if (!reply.count) return banner.show('no masks yet', { kind: 'info', detail: 'Track a few frames first.' });
  saveFile(new Blob([reply.zip], { type: 'application/zip' }), 'mobilevos-masks.zip');
}

/**
 * Record the overlay video (frame + masks at the source's size): a file's tracked frames are encoded at their own
 * timestamps (OverlayVideo: plays at the video's speed), a camera is recorded live with MediaRecorder.
 */
export async function toggleRecording() {
  if (app.recorder) return app.recorder.stop();
  const button = $('#btn-record');
  const done = (blob) => {
    app.recorder = null;
    button.classList.remove('recording');
    button.textContent = '● Record video';
    if (blob) saveFile(blob, `mobilevos-overlay.${blob.type.includes('mp4') ? 'mp4' : 'webm'}`);
  };
  if (app.file) {
    let video;
    try {
      video = await OverlayVideo.create(view);
    } catch (error) {
      return banner.show('recording unavailable', { kind: 'warn', detail: error.message });
    }
    const file = app.file;
    app.recorder = {
      add: (index, time) => video.add(time, file.duration(index)),
      // detached before finishing: a frame drawn while the file is written belongs to no video
      stop: () => {
        app.recorder = null;
        return video.finish().then(done, (error) => {
          done(null);
          banner.show('recording unavailable', {
            kind: 'warn',
            detail: `The overlay video was not saved: ${error.message}.`,
          });
        });
      },
    };
  } else {
    if (typeof MediaRecorder === 'undefined' || !view.captureStream) {
      return banner.show('recording unavailable', { kind: 'warn', detail: 'This browser cannot record a canvas.' });
    }
    const type = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm', 'video/mp4'].find((t) =>
      MediaRecorder.isTypeSupported(t),
    );
    const recorder = new MediaRecorder(view.captureStream(30), type ? { mimeType: type } : {});
    const chunks = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => done(new Blob(chunks, { type: recorder.mimeType || 'video/webm' }));
    recorder.start(1000);
    app.recorder = { stop: () => recorder.stop() };
  }
  button.classList.add('recording');
  button.textContent = '■ Stop & save video';
}
