/**
 * The overlay video of a file, exact: each tracked frame as drawn on the view canvas (frame + masks, at the video's
 * native size) is encoded at its own timestamp (mediabunny + WebCodecs' VideoEncoder, WebM), so the result plays at
 * the source's speed whatever the tracking speed was. A camera's overlay video is recorded live (MediaRecorder).
 */
import {
  BufferTarget,
  CanvasSource,
  getFirstEncodableVideoCodec,
  Output,
  QUALITY_HIGH,
  WebMOutputFormat,
} from 'mediabunny';

export class OverlayVideo {
  /** A recorder of `canvas`; rejects when the browser can encode neither VP9 nor VP8 at its size. */
  static async create(canvas) {
    const codec = await getFirstEncodableVideoCodec(['vp9', 'vp8'], { width: canvas.width, height: canvas.height });
    if (!codec) throw new Error(`this browser cannot encode VP9 or VP8 video at ${canvas.width}×${canvas.height}`);
    return new OverlayVideo(canvas, codec);
  }

  constructor(canvas, codec) {
    this.output = new Output({ format: new WebMOutputFormat(), target: new BufferTarget() });
    this.source = new CanvasSource(canvas, { codec, quality: QUALITY_HIGH });
    this.output.addVideoTrack(this.source);
    this.started = this.output.start();
    this.first = null; // timestamp of the first frame: the video starts at 0
    this.frames = 0;
    // adds run one after another and finish() waits for the last: a frame still being encoded when the user stops
    // must not reach the muxer after it was finalized
    this.queue = this.started;
    this.finished = false;
  }

  /** Encode the canvas as it is now: the source frame at `time` seconds, shown for `duration` seconds. */
  add(time, duration) {
    if (this.finished) return Promise.reject(new Error('the overlay video was already saved'));
    this.first ??= time;
    this.frames += 1;
    this.queue = this.queue.then(() => this.source.add(time - this.first, duration));
    return this.queue;
  }

  /** The WebM file; rejects if no frame was added. */
  async finish() {
    this.finished = true;
    await this.queue;
    if (!this.frames) {
      await this.output.cancel();
      throw new Error('no frame was tracked while recording');
    }
    await this.output.finalize();
    return new Blob([this.output.target.buffer], { type: 'video/webm' });
  }
}
