/**
 * Drives live tracking from the camera's own frames: requestVideoFrameCallback, one call per presented frame with its
 * media time and capture index (presentedFrames); nothing is queued here, the callback sends the frame or drops it.
 */
export class FrameLoop {
  constructor(video, onFrame) {
    this.video = video;
    this.onFrame = onFrame;
    this.running = false;
    this.handle = 0;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop() {
    this.running = false;
    this.video.cancelVideoFrameCallback(this.handle);
  }

  schedule() {
    if (!this.running) return;
    this.handle = this.video.requestVideoFrameCallback((now, meta) => {
      if (!this.running) return;
      this.onFrame(now, meta.mediaTime, meta.presentedFrames);
      this.schedule();
    });
  }
}
