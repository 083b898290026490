/**
 * A raw newline-delimited JSON connection for protocol tests: sends arbitrary bytes (broken
 * frames included) and reads the daemon's frames one by one.
 */
import { createConnection, type Socket } from 'node:net';

export interface RawFrame {
  id?: string | number | null;
  ok?: boolean;
  result?: any;
  error?: { code: string; message: string; details?: Record<string, unknown> };
  event?: { type: string; time: number; payload: Record<string, unknown> };
  subscription?: string;
}

export class RawConnection {
  readonly socket: Socket;
  readonly frames: RawFrame[] = [];
  /** The frames as the daemon wrote them (JSON.parse would round large numeric ids). */
  readonly lines: string[] = [];
  #partial = '';
  #waiters: Array<() => void> = [];
  closed = false;
  readonly closedPromise: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const text = this.#partial + chunk;
      const lines = text.split('\n');
      this.#partial = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        this.lines.push(line);
        this.frames.push(JSON.parse(line));
      }
      this.#wake();
    });
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.#wake();
        resolve();
      }),
    );
  }

  static open(opts: { path: string } | { host: string; port: number }): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(opts as never);
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(msg: unknown): void {
    this.socket.write(JSON.stringify(msg) + '\n');
  }

  /** Waits until `n` frames in total have arrived (or the connection closed), then returns them all. */
  async waitFrames(n: number, timeoutMs = 10_000): Promise<RawFrame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} frames; got ${this.frames.length}: ${JSON.stringify(this.frames.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.frames;
  }

  /** The next frame after those already seen (index-based). */
  async frame(index: number, timeoutMs?: number): Promise<RawFrame> {
    await this.waitFrames(index + 1, timeoutMs);
    const f = this.frames[index];
    if (!f) throw new Error(`connection closed before frame ${index}; frames: ${JSON.stringify(this.frames)}`);
    return f;
  }

  /** Sends a request and waits for the response with its id. */
  async request(msg: { id: string | number; [k: string]: unknown }, timeoutMs = 10_000): Promise<RawFrame> {
    this.send(msg);
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const hit = this.frames.find((f) => f.id === msg.id);
      if (hit) return hit;
      if (this.closed) throw new Error(`closed before reply to ${JSON.stringify(msg.id)}; frames: ${JSON.stringify(this.frames)}`);
      await this.waitFrames(this.frames.length + 1, Math.max(1, deadline - Date.now()));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
