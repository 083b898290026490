/**
 * An instance's worker thread (started by pool.ts as `new Worker(new URL('./worker.js', …))`):
 * the worker's end of the transport (transport.ts) around its guest runtime (guest-runtime.ts).
 *
 * The thread never returns to its event loop: it blocks in `Atomics.wait` until the main thread
 * posts a request, reads it with `receiveMessageOnPort`, runs the guest, posts the reply and
 * waits again. Host methods that need no main-thread state (registration, config, info, logging)
 * are served by the runtime right here; wire methods and the job imports cross to the main
 * thread, the worker blocking until the answer comes back (as the Extism JS SDK does).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { createGuestRuntime } from './guest-runtime.js';
import { CTRL, type BridgeReply, type SharedInit, type ToWorker, type WorkerChannels, type WorkerInit } from './protocol.js';

/**
 * How long an instance polls for the next call or a host answer before it blocks (spinWhile).
 * Short: long enough for a caller's next call or a quick answer, which come within
 * microseconds; any longer, and on a small machine the spinning takes CPU from the main thread
 * (measured on 2 cores: no-op job throughput fell by a fifth at 0.5 ms and a third at 1 ms).
 */
const SPIN_MS = 0.05;

const channels = workerData as WorkerChannels;
const { ctrl, inPort, outPort, bridgePort } = channels;
const replyBytes = new Uint8Array(channels.replyBuffer);
const sleeper = new Int32Array(new SharedArrayBuffer(4));
let killed = false;

function post(msg: object | string): void {
  outPort.postMessage(msg);
  Atomics.add(ctrl, CTRL.OUT, 1);
  Atomics.notify(ctrl, CTRL.OUT);
}

/**
 * Polls `ctrl[slot]` while it still reads `seen`, for at most SPIN_MS, before the caller blocks
 * in Atomics.wait: calls and host answers often come within microseconds, and waking a
 * sleeping thread costs tens of microseconds on a virtual machine (more than a call). Bounded,
 * so an idle instance soon sleeps.
 */
function spinWhile(slot: number, seen: number): void {
  const until = performance.now() + SPIN_MS;
  while (Atomics.load(ctrl, slot) === seen && performance.now() < until);
}

/**
 * A worker may be started before it knows its extension (a spare, kept ready because starting a
 * thread costs tens of milliseconds): the first message on its port says which one.
 */
function awaitInit(): WorkerInit {
  for (;;) {
    const seen = Atomics.load(ctrl, CTRL.IN);
    const first = receiveMessageOnPort(inPort);
    if (first !== undefined) return { ...channels, ...(first.message as { init: SharedInit }).init };
    Atomics.wait(ctrl, CTRL.IN, seen);
  }
}

// Loaded (this module and what it imports): a spare is ready to take an extension at once.
parentPort!.postMessage('loaded');

const runtime = createGuestRuntime(awaitInit(), {
  flushLogs(logs) {
    post({ t: 'logs', logs });
  },
  /**
   * A wire-method sd_call, posted as a bare string ('c' + method length + ':' + method + payload);
   * returns the packed envelope in guest memory.
   */
  callHost(method, payloadText) {
    const seen = Atomics.load(ctrl, CTRL.BRIDGE);
    post('c' + method.length + ':' + method + payloadText);
    spinWhile(CTRL.BRIDGE, seen);
    while (Atomics.load(ctrl, CTRL.BRIDGE) === seen) Atomics.wait(ctrl, CTRL.BRIDGE, seen);
    const n = Atomics.load(ctrl, CTRL.REPLY_LEN);
    if (n < 0) {
      const r = receiveMessageOnPort(bridgePort);
      if (r === undefined || typeof r.message !== 'string') throw runtime.fault('INTERNAL', 'the host answered sd_call without an envelope');
      return runtime.toGuest(r.message);
    }
    // The reply is in shared memory already: copy it straight into a guest buffer.
    return runtime.bytesToGuest(replyBytes.subarray(0, n));
  },
  /** Sends a request to the main thread and blocks until it answers. */
  bridge(request, logs): BridgeReply {
    post({ t: 'bridge', ...request, logs });
    for (;;) {
      const seen = Atomics.load(ctrl, CTRL.BRIDGE);
      const r = receiveMessageOnPort(bridgePort);
      if (r !== undefined) return r.message as BridgeReply;
      spinWhile(CTRL.BRIDGE, seen);
      Atomics.wait(ctrl, CTRL.BRIDGE, seen);
    }
  },
  sleep(ms) {
    // Blocks this thread only.
    Atomics.wait(sleeper, 0, 0, ms);
  },
  // A worker can be stopped from outside: its call's time limit bounds host work too.
  hostWork() {},
});

function handleCall(m: Extract<ToWorker, { t: 'call' }>): void {
  if (killed || runtime.poisoned) return;
  // Publish the start before checking KILL: the main thread reads STARTED after setting KILL,
  // so a call it believes unstarted (and retries elsewhere) never runs here.
  Atomics.store(ctrl, CTRL.STARTED, m.seq);
  if (Atomics.load(ctrl, CTRL.KILL) !== 0) {
    killed = true;
    return;
  }
  // Taken back by the main thread before it started (posted behind a slow call): say so, so
  // that a call the main thread could not be sure about is handed to another instance.
  if (m.gen !== Atomics.load(ctrl, CTRL.GEN)) {
    post('s' + String(m.seq));
    return;
  }
  const result = runtime.call(m);
  // The hot path posts a bare string ('r' + output): cheaper to post than an object.
  if (result.ok && result.logs.length === 0) post('r' + result.output);
  else post(result);
}

post(runtime.start());
for (;;) {
  const seen = Atomics.load(ctrl, CTRL.IN);
  let r: { message: unknown } | undefined;
  while ((r = receiveMessageOnPort(inPort)) !== undefined) {
    const m = r.message as ToWorker | ToWorker[];
    for (const one of Array.isArray(m) ? m : [m]) {
      if (one.t === 'call') handleCall(one);
      else if (one.t === 'cleanup') post(runtime.cleanup());
    }
  }
  spinWhile(CTRL.IN, seen);
  Atomics.wait(ctrl, CTRL.IN, seen);
}
