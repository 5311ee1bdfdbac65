/**
 * Drives tracking from the video's own frames: requestVideoFrameCallback (one call per presented frame), or
 * requestAnimationFrame with a currentTime check where rVFC is missing. The callback decides whether to send the
 * frame or drop it; nothing is queued here.
 */
export class FrameLoop {
  constructor(video, onFrame) {
    this.video = video;
    this.onFrame = onFrame;
    this.running = false;
    this.handle = 0;
    this.lastTime = -1;
    this.rvfc = typeof video.requestVideoFrameCallback === 'function';
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop() {
    this.running = false;
    if (this.rvfc) this.video.cancelVideoFrameCallback(this.handle);
    else cancelAnimationFrame(this.handle);
  }

  schedule() {
    if (!this.running) return;
    if (this.rvfc) {
      this.handle = this.video.requestVideoFrameCallback((now, meta) => {
        if (!this.running) return;
        this.onFrame(now, meta.mediaTime, meta.presentedFrames);
        this.schedule();
      });
    } else {
      this.handle = requestAnimationFrame((now) => {
        if (!this.running) return;
        const t = this.video.currentTime;
        if (t !== this.lastTime) {
          this.lastTime = t;
          this.onFrame(now, t, 0);
        }
        this.schedule();
      });
    }
  }
}
