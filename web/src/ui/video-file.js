/**
 * A video file read exactly, frame by frame: mediabunny demuxes it (MP4/MOV, WebM/Matroska and others) and decodes
 * every frame in presentation order with WebCodecs' VideoDecoder. Nothing is dropped and nothing depends on timing,
 * so the same file always gives the same frames, each with its index (its position in the video) and timestamp.
 * Why not the <video> element: playing drops frames when the tracker is slower than the video, and seeking decodes
 * from the previous key frame each time (and frame-accurate seeking needs the frame times the element does not give).
 */
import { ALL_FORMATS, BlobSource, EncodedPacketSink, Input, VideoSampleSink } from 'mediabunny';

/** An error the banner explains (code 'video-unreadable'). */
function unreadable(message) {
  return Object.assign(new Error(message), { code: 'video-unreadable' });
}

export class VideoFile {
  /** Open `blob` (a File, or the sample's bytes); rejects with code 'video-unreadable' and the reason. */
  static async open(blob) {
    const input = new Input({ source: new BlobSource(blob), formats: ALL_FORMATS });
    try {
      const track = await input.getPrimaryVideoTrack().catch((error) => {
        throw unreadable(`not a video container this page can read (MP4, MOV, WebM, MKV): ${error.message}`);
      });
      if (!track) throw unreadable('the file has no video track');
      if (!(await track.canDecode())) {
        throw unreadable(`this browser cannot decode its ${track.codec ?? 'unknown'} video (WebCodecs)`);
      }
      const times = [];
      for await (const packet of new EncodedPacketSink(track).packets(undefined, undefined, { metadataOnly: true })) {
        times.push(packet.timestamp);
      }
      if (!times.length) throw unreadable('the video track has no frames');
      times.sort((a, b) => a - b); // decode order -> presentation order
      return new VideoFile(input, track, times);
    } catch (error) {
      input.dispose();
      throw error.code ? error : unreadable(error.message);
    }
  }

  constructor(input, track, times) {
    this.input = input;
    this.track = track;
    this.sink = new VideoSampleSink(track);
    this.times = times; // presentation timestamps (s) of every frame, in order: times[i] is frame i
    this.width = track.displayWidth;
    this.height = track.displayHeight;
  }

  get count() {
    return this.times.length;
  }

  /** Index of the frame on screen at media time `time` (the last one that starts at or before it). */
  indexAt(time) {
    let lo = 0;
    let hi = this.times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.times[mid] <= time + 1e-6) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** How long frame `index` is shown (s): until the next frame; the last one as long as the one before it. */
  duration(index) {
    const { times } = this;
    if (times.length < 2) return 1 / 30;
    return index + 1 < times.length ? times[index + 1] - times[index] : times[index] - times[index - 1];
  }

  /** Frame `index` decoded, as an ImageBitmap at the display size. */
  async bitmap(index) {
    const sample = await this.sink.getSample(this.times[index]);
    if (!sample) throw unreadable(`frame ${index} could not be decoded`);
    return this.toBitmap(sample);
  }

  /** Frames `start`, `start` + 1, ... to the end: {index, time, bitmap}; every one, in order. */
  async *frames(start) {
    let index = start;
    for await (const sample of this.sink.samples(this.times[start])) {
      if (Math.abs(sample.timestamp - this.times[index]) > 1e-6) {
        sample.close();
        throw unreadable(
          `frame ${index} was expected at ${this.times[index]} s, the decoder gave ${sample.timestamp} s`,
        );
      }
      yield { index, time: sample.timestamp, bitmap: this.toBitmap(sample) };
      index += 1;
    }
    if (index !== this.times.length) throw unreadable(`the decoder stopped at frame ${index} of ${this.times.length}`);
  }

  /** A decoded sample drawn at its display size (rotation and pixel aspect applied), then closed. */
  toBitmap(sample) {
    try {
      const canvas = new OffscreenCanvas(sample.displayWidth, sample.displayHeight);
      sample.draw(canvas.getContext('2d'), 0, 0, sample.displayWidth, sample.displayHeight);
      return canvas.transferToImageBitmap();
    } finally {
      sample.close();
    }
  }

  close() {
    this.input.dispose();
  }
}
