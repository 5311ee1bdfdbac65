/**
 * The video source: camera (getUserMedia), a local video file or the bundled sample clip, all played by one <video>.
 * Errors are thrown with a `code` the banner knows (camera-denied, no-camera, video-unreadable, ...).
 */
import { cameraErrorCode } from './messages.js';

export class Source {
  constructor(video) {
    this.video = video;
    this.kind = 'none'; // 'camera' | 'file' | 'sample'
    this.stream = null;
    this.objectUrl = '';
    this.label = '';
  }

  get live() {
    return this.kind === 'camera';
  }

  get width() {
    return this.video.videoWidth;
  }

  get height() {
    return this.video.videoHeight;
  }

  async camera() {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw Object.assign(new Error('getUserMedia is unavailable'), {
        code: window.isSecureContext ? 'camera-failed' : 'camera-insecure',
      });
    }
    let stream;
    try {
      // No width, height or aspect: the camera's own mode, uncropped and unscaled (resizeMode 'none'), whatever its
      // shape; asking for 640x480 cropped a 16:9 camera to 4:3.
      stream = await navigator.mediaDevices.getUserMedia({
        video: { resizeMode: { ideal: 'none' }, frameRate: { ideal: 30 } },
        audio: false,
      });
    } catch (error) {
      throw Object.assign(new Error(error.message || error.name), { code: cameraErrorCode(error) });
    }
    this.stop();
    this.kind = 'camera';
    this.stream = stream;
    const track = stream.getVideoTracks()[0];
    this.label = track?.label || 'camera';
    this.video.srcObject = stream;
    await this.ready(true);
  }

  async file(file) {
    this.stop();
    this.kind = 'file';
    this.label = file.name;
    this.objectUrl = URL.createObjectURL(file);
    this.video.src = this.objectUrl;
    await this.ready(false);
  }

  async sample(url) {
    this.stop();
    this.kind = 'sample';
    this.label = 'sample clip';
    this.video.src = url;
    await this.ready(false);
  }

  /** Wait for the first frame; play live sources, keep files paused at their first frame. */
  ready(play) {
    const v = this.video;
    v.loop = false;
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        v.removeEventListener('loadeddata', onData);
        v.removeEventListener('error', onError);
      };
      const onData = () => {
        cleanup();
        // A file's first frame becomes drawable once it has been presented or sought to (Chromium).
        resolve(play ? v.play() : seek(v, 0));
      };
      const onError = () => {
        cleanup();
        const media = v.error;
        this.stop();
        reject(
          Object.assign(new Error(media?.message || `media error ${media?.code ?? ''}`), { code: 'video-unreadable' }),
        );
      };
      v.addEventListener('loadeddata', onData);
      v.addEventListener('error', onError);
      if (v.srcObject) v.play().catch(() => {});
      else v.load();
    });
  }

  stop() {
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    this.stream = null;
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.srcObject = null;
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = '';
    this.kind = 'none';
  }
}

/** Seek a video and wait until the frame is there (or 2 s passed). */
function seek(video, time) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      video.removeEventListener('seeked', done);
      resolve();
    };
    const timer = setTimeout(done, 2000);
    video.addEventListener('seeked', done);
    video.currentTime = time;
  });
}

/**
 * The camera's next frame: {bitmap, index, time} with its capture index (requestVideoFrameCallback's presentedFrames,
 * the numbering the tracked frames use) and media time; rejects if no frame comes within 2 s.
 */
export function captureFrame(video) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      video.cancelVideoFrameCallback(handle);
      reject(Object.assign(new Error('the camera sent no frame for 2 s'), { code: 'camera-failed' }));
    }, 2000);
    const handle = video.requestVideoFrameCallback((now, meta) => {
      clearTimeout(timer);
      createImageBitmap(video).then(
        (bitmap) => resolve({ bitmap, index: meta.presentedFrames, time: meta.mediaTime }),
        reject,
      );
    });
  });
}
