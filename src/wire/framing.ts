/**
 * Newline-delimited JSON framing for the daemon side, with the limits the protocol promises:
 * a maximum frame size (an oversized frame is skipped up to its newline, so the stream stays
 * usable), a maximum nesting depth (checked by a linear byte scan before JSON.parse, so a
 * hostile frame cannot blow the parser's stack), and strict UTF-8 (a fatal TextDecoder). Lines
 * that are empty or hold only whitespace are no frames and are skipped.
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
const SPACE = 0x20;
const TAB = 0x09;
const COLON = 0x3a;

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

/** True when a line holds nothing but JSON whitespace (spaces, tabs, CRs): such a line is no frame. */
export function isBlankLine(line: Uint8Array, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const b = line[i]!;
    if (b !== SPACE && b !== TAB && b !== CR) return false;
  }
  return true;
}

/**
 * The exact characters of the number that is the value of the top-level member `key` in a JSON
 * object's text, or undefined when that member's value is not a number. Like JSON.parse, the
 * last member of that name wins, and a name written with escapes (`"\u0069d"`) counts.
 *
 * JSON.parse rounds numbers to 64-bit floats; the wire echoes a request's numeric id from these
 * characters when rounding would change it (9007199254740993 would come back as …992).
 * Expects text JSON.parse accepted.
 */
export function topLevelNumberToken(text: string, key: string): string | undefined {
  let depth = 0;
  let token: string | undefined;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = endOfString(text, i);
      if (depth === 1) {
        let j = skipWhitespace(text, end);
        if (text.charCodeAt(j) === COLON) {
          // A member name: its value follows the colon.
          j = skipWhitespace(text, j + 1);
          if (JSON.parse(text.slice(i, end)) === key) {
            let k = j;
            while (k < n && isNumberChar(text.charCodeAt(k))) k++;
            token = k > j ? text.slice(j, k) : undefined;
          }
          i = j;
          continue;
        }
      }
      i = end;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    i++;
  }
  return token;
}

/** Index just past the closing quote of the JSON string that opens at `start`. */
function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) i += 2;
    else if (c === QUOTE) return i + 1;
    else i++;
  }
  return i;
}

function skipWhitespace(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== SPACE && c !== TAB && c !== CR && c !== NEWLINE) break;
    i++;
  }
  return i;
}

/** Characters a JSON number is written with: digits, `-`, `+`, `.`, `e`, `E`. */
function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

export interface FrameSink {
  /** A complete frame (newline and a trailing CR removed; never empty or whitespace only). Return false to stop taking frames for now. */
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
      const first = frame[0];
      if ((first === SPACE || first === TAB || first === CR) && isBlankLine(frame, end)) continue;
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
