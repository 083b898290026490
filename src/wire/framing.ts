/**
 * Newline-delimited JSON framing for the daemon side, with the limits the protocol promises:
 * a maximum frame size (an oversized frame is skipped up to its newline, so the stream stays
 * usable), a maximum nesting depth (checked by a linear byte scan before JSON.parse, so a
 * hostile frame cannot blow the parser's stack), and strict UTF-8 (a fatal TextDecoder).
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';

const NEWLINE = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Deepest `{`/`[` nesting in a JSON text, ignoring brackets inside strings. Works on raw UTF-8
 * bytes: the ASCII bytes it looks for never occur inside a multi-byte sequence. Stops early
 * once `limit` is exceeded and returns `limit + 1`.
 */
export function jsonDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) {
      inString = true;
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      depth--;
    }
  }
  return max;
}

/**
 * Decodes and parses one frame (without its newline). Throws PROTOCOL_ERROR for invalid UTF-8,
 * too deep nesting or invalid JSON, with a message saying which.
 */
export function parseFrame(frame: Uint8Array, maxDepth: number): unknown {
  const depth = jsonDepth(frame, maxDepth);
  if (depth > maxDepth) {
    throw new SpacedriveError(ErrorCode.PROTOCOL_ERROR, `frame nests deeper than the limit of ${maxDepth} levels`, { limit: maxDepth });
  }
  let text: string;
  try {
    text = utf8.decode(frame);
  } catch {
    throw new SpacedriveError(ErrorCode.PROTOCOL_ERROR, 'frame is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SpacedriveError(ErrorCode.PROTOCOL_ERROR, `frame is not valid JSON: ${(err as Error).message}`);
  }
}

export interface FrameSink {
  /** A complete frame (newline and a trailing CR removed; never empty). Return false to stop taking frames for now. */
  onFrame(frame: Buffer): boolean;
  /** A frame went over the size limit; its bytes are being discarded up to the next newline. */
  onOversized(bytes: number): void;
}

/**
 * Splits a byte stream into frames. Bytes without a newline yet are kept as a list of chunks
 * (no repeated concatenation while a large frame arrives); a frame that goes past `maxFrameBytes`
 * is reported once and then skipped to its newline, so memory stays bounded and the stream
 * resynchronises on the next frame.
 *
 * The sink can stop the splitter (returning false from onFrame, e.g. too many calls in flight);
 * the unread bytes stay here until {@link FrameSplitter.resume}.
 */
export class FrameSplitter {
  readonly #maxFrameBytes: number;
  readonly #sink: FrameSink;
  #partial: Buffer[] = [];
  #partialLength = 0;
  #skipping = false;
  /** Bytes received but not yet split (only while stopped). */
  #held: Buffer | null = null;

  constructor(maxFrameBytes: number, sink: FrameSink) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#sink = sink;
  }

  /** True while unread bytes are held because the sink stopped. */
  get stopped(): boolean {
    return this.#held !== null;
  }

  /** Bytes buffered for an incomplete frame. */
  get pendingBytes(): number {
    return this.#partialLength;
  }

  push(chunk: Buffer): void {
    if (this.#held !== null) {
      this.#held = Buffer.concat([this.#held, chunk]);
      return;
    }
    this.#split(chunk);
  }

  /** Continues with held bytes after the sink stopped. Returns true when nothing is held any more. */
  resume(): boolean {
    const held = this.#held;
    if (held === null) return true;
    this.#held = null;
    this.#split(held);
    return this.#held === null;
  }

  #split(chunk: Buffer): void {
    let start = 0;
    const len = chunk.length;
    while (start < len) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) {
        this.#keepPartial(chunk.subarray(start));
        return;
      }
      let frame: Buffer;
      if (this.#partialLength > 0) {
        this.#partial.push(chunk.subarray(start, nl));
        frame = Buffer.concat(this.#partial, this.#partialLength + (nl - start));
        this.#partial = [];
        this.#partialLength = 0;
      } else {
        frame = chunk.subarray(start, nl);
      }
      start = nl + 1;
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      let end = frame.length;
      if (end > 0 && frame[end - 1] === CR) end--;
      if (end === 0) continue;
      if (end > this.#maxFrameBytes) {
        this.#sink.onOversized(end);
        continue;
      }
      if (!this.#sink.onFrame(end === frame.length ? frame : frame.subarray(0, end)) && start < len) {
        this.#held = chunk.subarray(start);
        return;
      }
    }
  }

  #keepPartial(rest: Buffer): void {
    if (this.#skipping) return;
    if (this.#partialLength + rest.length > this.#maxFrameBytes) {
      const seen = this.#partialLength + rest.length;
      this.#partial = [];
      this.#partialLength = 0;
      this.#skipping = true;
      this.#sink.onOversized(seen);
      return;
    }
    // Copy: the socket may reuse or hold a large slab behind a small subarray.
    this.#partial.push(Buffer.from(rest));
    this.#partialLength += rest.length;
  }
}
