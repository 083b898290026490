/**
 * An instance's worker thread: the transport around its guest runtime (guest-runtime.ts).
 *
 * This function is handed to `new Worker(source, { eval: true })` as source text
 * (`Function.prototype.toString`), with createGuestRuntime's source as its argument, so it must
 * not refer to anything outside its own body: it then runs the same from src/ under vitest and
 * from dist/ in the daemon, with no bundling step and no second copy of the host. Types are
 * imported with `import()` type expressions only, which erase.
 *
 * The thread never returns to its event loop: it blocks in `Atomics.wait` until the main thread
 * posts a request, reads it with `receiveMessageOnPort`, runs the guest, posts the reply and
 * waits again. Host methods that need no main-thread state (registration, config, info, logging)
 * are served by the runtime right here; wire methods and the job imports cross to the main
 * thread, the worker blocking until the answer comes back (as the Extism JS SDK does).
 */
export function sandboxWorkerMain(createRuntime: typeof import('./guest-runtime.js').createGuestRuntime): void {
  type BridgeReply = import('./protocol.js').BridgeReply;
  const wt = require('node:worker_threads') as typeof import('node:worker_threads');
  const channels = wt.workerData as import('./protocol.js').WorkerChannels;
  // A worker may be started before it knows its extension (a spare, kept ready because starting
  // a thread costs tens of milliseconds): the first message on its port says which one.
  let first: { message: unknown } | undefined;
  for (;;) {
    const seen = Atomics.load(channels.ctrl, 0);
    first = wt.receiveMessageOnPort(channels.inPort);
    if (first !== undefined) break;
    Atomics.wait(channels.ctrl, 0, seen);
  }
  const init: import('./protocol.js').WorkerInit = { ...channels, ...(first.message as { init: import('./protocol.js').SharedInit }).init };
  const { ctrl, inPort, outPort, bridgePort } = init;
  const replyBytes = new Uint8Array(init.replyBuffer);
  // Keep in step with CTRL in protocol.ts.
  const IN = 0;
  const OUT = 1;
  const BRIDGE = 2;
  const STARTED = 3;
  const KILL = 4;
  const REPLY_LEN = 5;
  const GEN = 6;
  /**
   * How long an instance polls for the next call or a host answer before it blocks (spinWhile).
   * Short: long enough for a caller's next call or a quick answer, which come within
   * microseconds; any longer, and on a small machine the spinning takes CPU from the main thread
   * (measured on 2 cores: no-op job throughput fell by a fifth at 0.5 ms and a third at 1 ms).
   */
  const SPIN_MS = 0.05;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let killed = false;

  function post(msg: object | string): void {
    outPort.postMessage(msg);
    Atomics.add(ctrl, OUT, 1);
    Atomics.notify(ctrl, OUT);
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

  const runtime = createRuntime(init, {
    flushLogs(logs) {
      post({ t: 'logs', logs });
    },
    /**
     * A wire-method sd_call, posted as a bare string ('c' + method length + ':' + method + payload);
     * returns the packed envelope in guest memory.
     */
    callHost(method, payloadText) {
      const seen = Atomics.load(ctrl, BRIDGE);
      post('c' + method.length + ':' + method + payloadText);
      spinWhile(BRIDGE, seen);
      while (Atomics.load(ctrl, BRIDGE) === seen) Atomics.wait(ctrl, BRIDGE, seen);
      const n = Atomics.load(ctrl, REPLY_LEN);
      if (n < 0) {
        const r = wt.receiveMessageOnPort(bridgePort);
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
        const seen = Atomics.load(ctrl, BRIDGE);
        const r = wt.receiveMessageOnPort(bridgePort);
        if (r !== undefined) return r.message as BridgeReply;
        spinWhile(BRIDGE, seen);
        Atomics.wait(ctrl, BRIDGE, seen);
      }
    },
    sleep(ms) {
      // Blocks this thread only.
      Atomics.wait(sleeper, 0, 0, ms);
    },
    // A worker can be stopped from outside: its call's time limit bounds host work too.
    hostWork() {},
  });

  function handleCall(m: Extract<import('./protocol.js').ToWorker, { t: 'call' }>): void {
    if (killed || runtime.poisoned) return;
    // Publish the start before checking KILL: the main thread reads STARTED after setting KILL,
    // so a call it believes unstarted (and retries elsewhere) never runs here.
    Atomics.store(ctrl, STARTED, m.seq);
    if (Atomics.load(ctrl, KILL) !== 0) {
      killed = true;
      return;
    }
    // Taken back by the main thread before it started (posted behind a slow call): say so, so
    // that a call the main thread could not be sure about is handed to another instance.
    if (m.gen !== Atomics.load(ctrl, GEN)) {
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
    const seen = Atomics.load(ctrl, IN);
    let r: { message: unknown } | undefined;
    while ((r = wt.receiveMessageOnPort(inPort)) !== undefined) {
      const m = r.message as import('./protocol.js').ToWorker | import('./protocol.js').ToWorker[];
      for (const one of Array.isArray(m) ? m : [m]) {
        if (one.t === 'call') handleCall(one);
        else if (one.t === 'cleanup') post(runtime.cleanup());
      }
    }
    spinWhile(IN, seen);
    Atomics.wait(ctrl, IN, seen);
  }
}
