/**
 * A real HTTP server on 127.0.0.1 that speaks the parts of the OpenAI API core uses
 * (`POST /v1/chat/completions`, `POST /v1/embeddings`), with deterministic answers:
 *  - chat: reads the receipt-like text in the user message; with a `response_format` JSON
 *    Schema it fills each property from the text (merchant = first line, date, currency,
 *    total, …) and honours the schema's types; without one it answers `TOTAL <amount>`;
 *  - embeddings: each text's vector comes from a SHA-256 of the text (same text, same vector).
 *
 * The model name picks a misbehaviour, so a test (or a client over the wire) can ask for it:
 *   `test-ignore-schema`  answers JSON that does not follow the schema
 *   `test-not-json`       answers prose even when a schema is given
 *   `test-fenced`         wraps the JSON in a Markdown code fence
 *   `test-no-structured`  refuses `response_format` with HTTP 400, as servers without it do
 *   `test-slow`           waits `slowMs` before answering
 *   `test-error`          answers HTTP 500 with an OpenAI-style error body
 *   `test-bad-body`       answers HTTP 200 with a body that is not JSON
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OpenAiTestServerOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Embedding length. Default 8. */
  dimensions?: number;
  /** Delay of `test-slow`. Default 2000 ms. */
  slowMs?: number;
}

export interface RecordedRequest {
  path: string;
  body: Record<string, any>;
  authorization: string | undefined;
}

export interface OpenAiTestServer {
  /** API root to configure as `ai.provider.base_url` (ends in /v1). */
  baseUrl: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startOpenAiServer(opts: OpenAiTestServerOptions = {}): Promise<OpenAiTestServer> {
  const requests: RecordedRequest[] = [];
  const dimensions = opts.dimensions ?? 8;
  const slowMs = opts.slowMs ?? 2000;
  const timers = new Set<NodeJS.Timeout>();

  const server = createServer((req, res) => {
    void handle(req, res).catch((err) => send(res, 500, { error: { message: String(err), type: 'server_error' } }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw);
    } catch {
      return send(res, 400, { error: { message: 'request body is not JSON', type: 'invalid_request_error' } });
    }
    requests.push({ path: req.url ?? '', body, authorization: req.headers.authorization });
    if (opts.apiKey && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return send(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    if (req.method !== 'POST') return send(res, 405, { error: { message: 'use POST' } });
    const model = String(body.model ?? '');
    if (model === 'test-slow') await sleep(slowMs);
    if (model === 'test-error') return send(res, 500, { error: { message: 'the model crashed (test)', type: 'server_error' } });
    if (model === 'test-bad-body') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>gateway says hi</html>');
      return;
    }
    if (req.url === '/v1/chat/completions') {
      if (model === 'test-no-structured' && body.response_format) {
        return send(res, 400, { error: { message: "Unrecognized request argument supplied: response_format (json_schema is not supported)", type: 'invalid_request_error' } });
      }
      return send(res, 200, chat(body));
    }
    if (req.url === '/v1/embeddings') return send(res, 200, embeddings(body));
    return send(res, 404, { error: { message: `no route ${req.url}`, type: 'invalid_request_error' } });
  }

  function chat(body: Record<string, any>): Record<string, unknown> {
    const model = String(body.model);
    const messages = (body.messages ?? []) as Array<{ role: string; content: string }>;
    const text = messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
    // Like a real model, follow a schema given in the system prompt when response_format is absent.
    const inPrompt = /JSON Schema:\n(\{[\s\S]*\})\s*$/.exec(messages.find((m) => m.role === 'system')?.content ?? '');
    const schema = (body.response_format?.json_schema?.schema ?? (inPrompt ? JSON.parse(inPrompt[1]!) : undefined)) as Record<string, any> | undefined;
    let content: string;
    if (model === 'test-not-json') content = 'I think this is a receipt from a coffee shop.';
    else if (model === 'test-ignore-schema') content = JSON.stringify({ total: 'a lot', merchant: 42 });
    else if (schema) {
      content = JSON.stringify(fill(schema, text));
      if (model === 'test-fenced') content = '```json\n' + content + '\n```';
    } else {
      const total = extract(text).total;
      content = total === undefined ? 'UNKNOWN' : `TOTAL ${total.toFixed(2)}`;
    }
    const prompt_tokens = messages.reduce((n, m) => n + m.content.split(/\s+/).length, 0);
    const completion_tokens = content.split(/\s+/).length;
    return {
      id: `chatcmpl-${requests.length}`,
      object: 'chat.completion',
      created: 1_750_000_000,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
      usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens },
    };
  }

  function embeddings(body: Record<string, any>): Record<string, unknown> {
    const input: string[] = Array.isArray(body.input) ? body.input : [body.input];
    // Answer out of order on purpose: clients must sort by `index`.
    const data = input
      .map((text, index) => ({ object: 'embedding', index, embedding: vectorOf(String(text), dimensions) }))
      .reverse();
    return { object: 'list', model: body.model, data, usage: { prompt_tokens: input.length, total_tokens: input.length } };
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        timers.delete(t);
        r();
      }, ms);
      timers.add(t);
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A deterministic unit-length vector from a text's SHA-256. */
export function vectorOf(text: string, dimensions: number): number[] {
  const out: number[] = [];
  let block = createHash('sha256').update(text).digest();
  while (out.length < dimensions) {
    for (let i = 0; i + 1 < block.length && out.length < dimensions; i += 2) out.push(block.readUInt16LE(i) / 32767.5 - 1);
    block = createHash('sha256').update(block).digest();
  }
  const norm = Math.sqrt(out.reduce((s, x) => s + x * x, 0)) || 1;
  return out.map((x) => x / norm);
}

/** What the fake model "understands" of a receipt. */
export function extract(text: string): { merchant?: string; date?: string; currency?: string; total?: number } {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const total = /TOTAL\s+([A-Z]{3})?[\s:]*([0-9]+\.[0-9]{2})/.exec(text);
  const date = /\b(\d{4}-\d{2}-\d{2})\b/.exec(text);
  const out: { merchant?: string; date?: string; currency?: string; total?: number } = {};
  if (lines[0]) out.merchant = lines[0];
  if (date) out.date = date[1]!;
  if (total?.[1]) out.currency = total[1];
  if (total?.[2]) out.total = Number(total[2]);
  return out;
}

/** An object that follows `schema`, with values taken from the text where a property's name says what it is. */
function fill(schema: Record<string, any>, text: string): unknown {
  const found = extract(text) as Record<string, unknown>;
  const valueFor = (name: string, s: Record<string, any>): unknown => {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    const hit = Object.keys(found).find((k) => name.toLowerCase().includes(k));
    const v = hit ? found[hit] : undefined;
    if (Array.isArray(s.enum)) return s.enum.includes(v) ? v : s.enum[0];
    if (types.includes('number') || types.includes('integer')) return typeof v === 'number' ? v : 0;
    if (types.includes('string')) return typeof v === 'string' ? v : '';
    if (types.includes('boolean')) return v !== undefined;
    if (types.includes('object')) return fill(s, text);
    if (types.includes('array')) return [];
    return v ?? null;
  };
  if (schema.type === 'object' || schema.properties) {
    const out: Record<string, unknown> = {};
    for (const [name, s] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, any>>)) out[name] = valueFor(name, s);
    return out;
  }
  return valueFor('', schema);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
