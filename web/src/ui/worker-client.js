/**
 * The asking side of the worker protocol (web/src/protocol.js), for the page and the bench: `request(action, payload,
 * transfer)` returns a promise of the reply; progress replies go to `onProgress`; error replies reject with an Error
 * carrying the worker's `code`. The caller creates the Worker: Vite bundles a worker only where it sees
 * `new Worker(new URL(...), ...)` spelled out.
 */
export class WorkerClient {
  /** @param {Worker} worker  web/src/worker.js (the page) or web/src/bench/bench-worker.js */
  constructor(worker, { onProgress = () => {} } = {}) {
    this.worker = worker;
    this.pending = new Map();
    this.nextId = 1;
    this.onProgress = onProgress;
    this.worker.onmessage = ({ data }) => this.receive(data);
    this.worker.onerror = (event) => {
      event.preventDefault?.();
      const error = Object.assign(new Error(`the inference worker failed: ${event.message || 'script error'}`), {
        code: 'no-backend',
      });
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    };
  }

  request(action, payload = {}, transfer = []) {
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      this.worker.postMessage({ action, requestId, ...payload }, transfer);
    });
  }

  receive(reply) {
    if (reply.status === 'progress') return this.onProgress(reply);
    const waiting = this.pending.get(reply.requestId);
    if (!waiting) return;
    this.pending.delete(reply.requestId);
    if (reply.status === 'error') waiting.reject(Object.assign(new Error(reply.message), { code: reply.code }));
    else waiting.resolve(reply);
  }

  terminate() {
    this.worker.terminate();
    const error = Object.assign(new Error('worker stopped'), { code: 'cancelled' });
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}
