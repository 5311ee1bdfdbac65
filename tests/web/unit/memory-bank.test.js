import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { MemoryBank } from '../../../web/src/memory-bank.js';
import { REPO, readManifest } from '../helpers/models.js';

// The student's memory rule as the export writes it (mobilevos.memory_rule.STUDENT; tests/test_memory_rule.py checks
// that the shipped manifest carries exactly that rule).
const MEMORY = readManifest().memory;
const RULE_CASES = JSON.parse(readFileSync(join(REPO, 'tests/memory_rule_cases.json'), 'utf8')).cases;

let serial = 0;
class FakeTensor {
  constructor(tag, dims = [1, 64, 15, 20]) {
    this.tag = tag;
    this.id = serial++;
    this.dims = dims;
    this.type = 'float32';
    this.location = 'gpu-buffer';
    this.disposedCount = 0;
  }
  dispose() {
    this.disposedCount += 1;
  }
}
const entry = (tag) => ({
  key: new FakeTensor(`${tag}.key`),
  value: new FakeTensor(`${tag}.value`, [1, 2, 128, 15, 20]),
  prob: new FakeTensor(`${tag}.prob`),
});

test('annotate fills both slots with the same entry; track replaces only the previous slot', () => {
  const bank = new MemoryBank(MEMORY);
  assert.equal(bank.ready, false);
  assert.throws(() => bank.feeds(), /empty/);
  const annotated = entry('annotate');
  bank.update('annotate', annotated);
  assert.equal(bank.ready, true);
  let feeds = bank.feeds();
  assert.deepEqual(Object.keys(feeds).sort(), ['key0', 'key1', 'value0', 'value1']);
  assert.equal(feeds.key0, annotated.key);
  assert.equal(feeds.key1, annotated.key);
  assert.equal(feeds.value0, annotated.value);
  assert.equal(feeds.value1, annotated.value);
  assert.equal(bank.tensors().size, 2);

  const s1 = entry('s1');
  bank.update('track', s1);
  feeds = bank.feeds();
  assert.equal(feeds.key0, annotated.key, 'the first-frame entry is permanent');
  assert.equal(feeds.value0, annotated.value);
  assert.equal(feeds.key1, s1.key);
  assert.equal(feeds.value1, s1.value);
  assert.equal(annotated.key.disposedCount, 0, 'still referenced by the first slot');

  const s2 = entry('s2');
  bank.update('track', s2);
  assert.equal(bank.feeds().key1, s2.key);
  assert.equal(s1.key.disposedCount, 1, 'the replaced previous entry is disposed');
  assert.equal(s1.value.disposedCount, 1);
  assert.equal(s2.prob.disposedCount, 0, 'outputs that are not the entry are left to the caller');
});

test('memory does not grow and every replaced tensor is disposed exactly once over many steps', () => {
  const bank = new MemoryBank(MEMORY);
  const annotated = entry('annotate');
  bank.update('annotate', annotated);
  const entries = [];
  for (let t = 0; t < 5000; t++) {
    const e = entry(`s${t}`);
    entries.push(e);
    bank.update('track', e);
    assert.equal(bank.tensors().size, 4);
  }
  const bytesAfter = bank.bytes;
  assert.equal(bytesAfter, 2 * (64 * 15 * 20 + 2 * 128 * 15 * 20) * 4);
  entries.slice(0, -1).forEach((e) => {
    assert.equal(e.key.disposedCount, 1);
    assert.equal(e.value.disposedCount, 1);
  });
  assert.equal(entries.at(-1).key.disposedCount, 0);
  assert.equal(annotated.key.disposedCount, 0);
  assert.equal(bank.disposed, 2 * 4999);
});

test('re-annotating (another annotate call): both slots reset, every old tensor released', () => {
  const bank = new MemoryBank(MEMORY);
  const a = entry('a');
  bank.update('annotate', a);
  const s = entry('s');
  bank.update('track', s);
  const b = entry('b');
  bank.update('annotate', b);
  const feeds = bank.feeds();
  assert.equal(feeds.key0, b.key);
  assert.equal(feeds.key1, b.key);
  for (const t of [a.key, a.value, s.key, s.value]) assert.equal(t.disposedCount, 1);
  assert.equal(bank.tensors().size, 2);
});

test('re-annotating right after annotating (no track call) disposes the shared entry once', () => {
  const bank = new MemoryBank(MEMORY);
  const a = entry('a');
  bank.update('annotate', a);
  bank.update('annotate', entry('b'));
  assert.equal(a.key.disposedCount, 1);
  assert.equal(a.value.disposedCount, 1);
});

test('clear releases everything; unknown kinds and missing outputs are errors', () => {
  const bank = new MemoryBank(MEMORY);
  const a = entry('a');
  bank.update('annotate', a);
  bank.clear();
  assert.equal(bank.ready, false);
  assert.equal(a.key.disposedCount, 1);
  assert.equal(bank.bytes, 0);
  assert.throws(() => bank.update('decode', entry('x')), /no update for decode/);
  assert.throws(() => bank.update('track', { key: new FakeTensor('k') }), /lack the memory entry/);
});

test('slot names and input names come from the manifest, not from the code', () => {
  const renamed = {
    slots: [
      { name: 'anchor', key: 'mk_a', value: 'mv_a' },
      { name: 'recent', key: 'mk_r', value: 'mv_r' },
    ],
    entry: { key: 'k_out', value: 'v_out' },
    update: { annotate: ['anchor', 'recent'], track: ['recent'] },
  };
  const bank = new MemoryBank(renamed);
  const k = new FakeTensor('k');
  const v = new FakeTensor('v');
  bank.update('annotate', { k_out: k, v_out: v });
  assert.deepEqual(Object.keys(bank.feeds()).sort(), ['mk_a', 'mk_r', 'mv_a', 'mv_r']);
});

// The shared rule table, also run through the PyTorch bank, the onnxruntime tracker and the training unroll; the
// manifest carries the student's rule only (an exported graph reads a fixed number of memory inputs).
const studentCases = RULE_CASES.filter((c) => c.rule === 'student');
test('the shared rule table has student cases', () => assert.ok(studentCases.length > 0));
for (const { name, steps } of studentCases) {
  test(`shared memory rule case: ${name}`, () => {
    const bank = new MemoryBank(MEMORY);
    steps.forEach((step, n) => {
      // every entry is tagged with the number of the call that made it
      bank.update(step.call, { [MEMORY.entry.key]: new FakeTensor(n), [MEMORY.entry.value]: new FakeTensor(n) });
      const slots = Object.fromEntries(MEMORY.slots.map((s) => [s.name, [bank.slots.get(s.name).key.tag]]));
      assert.deepEqual(slots, step.slots, `after call ${n}`);
      const feeds = bank.feeds(); // what the next track call reads, slot by slot in the manifest's order
      const tags = (input) => MEMORY.slots.map((s) => feeds[s[input]].tag);
      assert.deepEqual(tags('key'), step.read);
      assert.deepEqual(tags('value'), step.read);
    });
  });
}
