/**
 * A spinner on stderr while the CLI waits for a slow answer (OCR of a scan takes seconds), so a
 * person at a terminal sees the call is alive. Only on a terminal, only after a delay (quick
 * calls draw nothing), and erased before anything else is printed.
 *
 * Written here rather than taken from a library: the small spinner libraries decide whether
 * they may animate by looking at stdout, while this one writes to stderr, which is the stream
 * that matters when stdout is piped to a file.
 */

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const FRAME_MS = 80;
/** Calls that answer sooner than this draw nothing. */
export const SPINNER_DELAY_MS = 1000;

export interface SpinnerStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * Shows `label` with a spinner on `stream` from `delayMs` after the call until `stop()`.
 * Returns `stop`, which erases the line; a no-op when the stream is not a terminal.
 */
export function startSpinner(stream: SpinnerStream, label: string, opts: { delayMs?: number; enabled?: boolean } = {}): () => void {
  if (!(opts.enabled ?? stream.isTTY === true)) return () => undefined;
  const started = Date.now();
  let frame = 0;
  let drawn = false;
  let ticker: NodeJS.Timeout | undefined;
  const draw = () => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${label} ${seconds}s`);
    drawn = true;
  };
  const begin = () => {
    draw();
    ticker = setInterval(draw, FRAME_MS);
    ticker.unref();
  };
  const delayMs = opts.delayMs ?? SPINNER_DELAY_MS;
  let waiter: NodeJS.Timeout | undefined;
  if (delayMs <= 0) begin();
  else {
    waiter = setTimeout(begin, delayMs);
    waiter.unref();
  }
  return () => {
    if (waiter) clearTimeout(waiter);
    if (ticker) clearInterval(ticker);
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
}
