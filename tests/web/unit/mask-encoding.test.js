import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { unzipSync } from 'fflate';

import {
  DAVIS_PALETTE,
  MaskError,
  decodePng,
  encodePng,
  labelsFromPng,
  labelsToPng,
  zipFiles,
} from '../../../web/src/mask-encoding.js';

const fixture = (name) => readFileSync(new URL(`./fixtures/png/${name}`, import.meta.url));
const expected = JSON.parse(fixture('expected.json'));
// Labels as the app numbers them: ids ascending -> 1..N, 255 (void) -> background.
const appLabels = expected.labels.map((v) => (v === 255 ? 0 : v));

test('decodes every PNG mode Pillow writes (filters, bit depths, palette, alpha)', () => {
  const { width, height } = expected;
  const grey = decodePng(fixture('grey.png'));
  assert.deepEqual([grey.width, grey.height, grey.channels], [width, height, 1]);
  assert.deepEqual(Array.from(grey.samples), expected.labels);
  assert.deepEqual(Array.from(decodePng(fixture('palette.png')).samples), expected.labels);
  assert.deepEqual(Array.from(decodePng(fixture('rgb.png')).samples), expected.rgb);
  assert.deepEqual(Array.from(decodePng(fixture('rgba.png')).samples), expected.rgba);
  assert.deepEqual(Array.from(decodePng(fixture('grey16.png')).samples), expected.labels);
  const bit = decodePng(fixture('binary_1bit.png'));
  assert.equal(bit.bitDepth, 1);
  assert.deepEqual(
    Array.from(bit.samples),
    expected.labels.map((v) => (v > 0 ? 1 : 0)),
  );
});

test('index masks: ids in ascending order, 255 is void, a 0/255 mask is one object', () => {
  for (const name of ['grey.png', 'palette.png', 'grey16.png']) {
    const m = labelsFromPng(decodePng(fixture(name)));
    assert.equal(m.kind, 'index');
    assert.equal(m.count, 2, name);
    assert.deepEqual(Array.from(m.labels), appLabels, name);
  }
  const binary = labelsFromPng(decodePng(encodePng({ width: 3, height: 1, data: Uint8Array.from([0, 255, 255]) })));
  assert.equal(binary.count, 1);
  assert.deepEqual(Array.from(binary.labels), [0, 1, 1]);
  const gaps = labelsFromPng(decodePng(encodePng({ width: 4, height: 1, data: Uint8Array.from([0, 7, 3, 7]) })));
  assert.deepEqual(Array.from(gaps.labels), [0, 2, 1, 2]);
  const alpha = labelsFromPng(decodePng(fixture('grey_alpha.png')));
  assert.deepEqual(
    Array.from(alpha.labels),
    appLabels.map((v) => (v === 2 ? 0 : v)),
    'transparent = background',
  );
});

test('colour masks: black is background, known colours keep their object, others follow', () => {
  const m = labelsFromPng(decodePng(fixture('colour_mask.png')));
  assert.equal(m.kind, 'colour');
  assert.equal(m.count, 2);
  // without known colours: ascending packed RGB -> (60,200,255) is object 1, (255,80,80) object 2
  assert.deepEqual(
    Array.from(m.labels),
    appLabels.map((v) => (v === 1 ? 2 : v === 2 ? 1 : 0)),
  );
  const known = labelsFromPng(decodePng(fixture('colour_mask.png')), {
    knownColours: [
      [255, 80, 80],
      [60, 200, 255],
    ],
  });
  assert.deepEqual(Array.from(known.labels), appLabels);
  const photo = decodePng(fixture('rgb.png'));
  assert.throws(
    () => labelsFromPng(photo),
    (e) => e instanceof MaskError && e.code === 'mask-not-flat',
  );
});

test('label PNGs round-trip and carry the DAVIS palette', () => {
  const labels = Uint8Array.from({ length: 320 * 240 }, (_, i) =>
    i % 320 > 100 && i % 320 < 200 ? 1 + (i > 40000) : 0,
  );
  const png = labelsToPng(labels, 320, 240);
  assert.ok(png.length < 3000, `a mask compresses well (${png.length} bytes)`);
  const back = decodePng(png);
  assert.equal(back.colorType, 3);
  assert.deepEqual(Array.from(back.palette.subarray(0, 9)), DAVIS_PALETTE.slice(0, 3).flat());
  assert.deepEqual(back.samples, labels);
  for (const channels of [3, 4]) {
    const data = Uint8Array.from({ length: 7 * 5 * channels }, (_, i) => (i * 37) % 256);
    assert.deepEqual(decodePng(encodePng({ width: 7, height: 5, channels, data })).samples, data);
  }
});

test('bad input is reported as a MaskError', () => {
  assert.throws(
    () => decodePng(Uint8Array.from([1, 2, 3])),
    (e) => e instanceof MaskError && /not a PNG/.test(e.message),
  );
  const png = labelsToPng(new Uint8Array(64), 8, 8);
  const broken = png.slice(0, png.length - 30);
  assert.throws(() => decodePng(broken), MaskError);
});

test('zip of masks', () => {
  const files = {
    'masks/00000.png': labelsToPng(new Uint8Array(16), 4, 4),
    'frames.json': new TextEncoder().encode('[]'),
  };
  const unzipped = unzipSync(zipFiles(files));
  assert.deepEqual(Object.keys(unzipped).sort(), ['frames.json', 'masks/00000.png']);
  assert.deepEqual(unzipped['masks/00000.png'], files['masks/00000.png']);
});
