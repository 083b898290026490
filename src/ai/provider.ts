/**
 * A client for an OpenAI-compatible HTTP API (OpenAI, Ollama, llama.cpp's server, vLLM, …):
 * `POST <base_url>/chat/completions` and `POST <base_url>/embeddings`, where `base_url` is the
 * API root including its version, as the OpenAI SDKs take it (`https://api.openai.com/v1`,
 * `http://127.0.0.1:11434/v1`).
 */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { compileSchema, type JsonSchema } from '../schema/index.js';

export interface AiProviderOptions {
  /** API root including the version path, e.g. `http://127.0.0.1:11434/v1`. */
  base_url: string;
  /** Sent as `Authorization: Bearer <api_key>` when set. */
  api_key?: string;
  /** Chat model for classify_text. */
  model: string;
  /** Model for embed; default `model`. */
  embedding_model?: string;
  /** Per request. */
  timeout_ms: number;
}

export interface ClassifyTextRequest {
  prompt: string;
  text: string;
  /** JSON Schema the answer must follow; the answer is then parsed JSON. */
  schema?: Record<string, unknown>;
  model?: string;
}

export interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

export interface ClassifyTextResult {
  result: unknown;
  model: string;
  usage?: Usage;
}

export interface EmbedRequest {
  texts?: string[];
  text?: string;
  model?: string;
}

export interface EmbedResult {
  embeddings: number[][];
  model: string;
  dimensions: number;
}

/** How to configure a provider, shown whenever a text or embedding call finds none. */
export function notConfiguredError(dataDir: string): SpacedriveError {
  const snippet = JSON.stringify({ ai: { provider: { base_url: 'http://127.0.0.1:11434/v1', model: 'llama3.2', embedding_model: 'nomic-embed-text' } } });
  return new SpacedriveError(
    ErrorCode.AI_PROVIDER_NOT_CONFIGURED,
    `no AI provider is configured for text and embeddings. Point core at any OpenAI-compatible API (OpenAI, Ollama, llama.cpp server, vLLM): ` +
      `add ${snippet} to ${dataDir}/config.json (with "api_key" if the provider needs one), ` +
      `or set SPACEDRIVE_AI_BASE_URL, SPACEDRIVE_AI_MODEL and optionally SPACEDRIVE_AI_API_KEY and SPACEDRIVE_AI_EMBEDDING_MODEL; then restart the daemon`,
  );
}

export class OpenAiCompatibleProvider {
  readonly #opts: AiProviderOptions;

  constructor(opts: AiProviderOptions) {
    this.#opts = { ...opts, base_url: opts.base_url.replace(/\/+$/, '') };
  }

  async classifyText(req: ClassifyTextRequest, signal?: AbortSignal): Promise<ClassifyTextResult> {
    const model = req.model ?? this.#opts.model;
    // Compile first: a schema that is not a schema is the caller's mistake, found before any request.
    const validate = req.schema ? compileSchema(req.schema as JsonSchema, { code: ErrorCode.AI_INVALID_ANSWER, what: 'answer from the AI provider' }) : undefined;
    const system = req.schema
      ? `${req.prompt}\n\nAnswer with a single JSON value and nothing else. It must follow this JSON Schema:\n${JSON.stringify(req.schema)}`
      : req.prompt;
    const body: Record<string, unknown> = {
      model,
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: req.text },
      ],
      temperature: 0,
    };
    if (req.schema) body.response_format = { type: 'json_schema', json_schema: { name: 'answer', schema: req.schema } };

    let reply: ChatCompletion;
    try {
      reply = (await this.#post('/chat/completions', body, signal)) as ChatCompletion;
    } catch (err) {
      // Servers without structured output refuse response_format (400/422 naming it); the schema
      // is also in the system prompt, and the answer is validated below either way.
      if (!req.schema || !isResponseFormatRefusal(err)) throw err;
      delete body.response_format;
      reply = (await this.#post('/chat/completions', body, signal)) as ChatCompletion;
    }
    const content = reply?.choices?.[0]?.message?.content;
    if (typeof content !== 'string') {
      throw new SpacedriveError(ErrorCode.AI_INVALID_ANSWER, 'the AI provider returned no message content (expected choices[0].message.content)');
    }
    const out: ClassifyTextResult = { result: content, model: typeof reply.model === 'string' ? reply.model : model };
    if (reply.usage && typeof reply.usage === 'object') out.usage = pickUsage(reply.usage);
    if (!validate) return out;

    let parsed: unknown;
    try {
      parsed = JSON.parse(stripFences(content));
    } catch {
      throw new SpacedriveError(ErrorCode.AI_INVALID_ANSWER, `the AI provider's answer is not JSON, but a schema was given: ${preview(content)}`, { answer: preview(content) });
    }
    try {
      out.result = validate(parsed);
    } catch (err) {
      const e = err as SpacedriveError;
      throw new SpacedriveError(ErrorCode.AI_INVALID_ANSWER, `the AI provider's answer does not follow the schema: ${e.message.replace(/^invalid answer from the AI provider: /, '')}`, {
        ...(e.details ?? {}),
        answer: preview(content),
      });
    }
    return out;
  }

  async embed(req: EmbedRequest, signal?: AbortSignal): Promise<EmbedResult> {
    const texts = req.texts ?? (req.text !== undefined ? [req.text] : []);
    if (texts.length === 0) throw new SpacedriveError(ErrorCode.INVALID_INPUT, "give 'texts' (a non-empty array) or 'text'");
    const model = req.model ?? this.#opts.embedding_model ?? this.#opts.model;
    const reply = (await this.#post('/embeddings', { model, input: texts }, signal)) as EmbeddingsReply;
    const data = Array.isArray(reply?.data) ? reply.data : undefined;
    if (!data || data.length !== texts.length) {
      throw new SpacedriveError(ErrorCode.AI_INVALID_ANSWER, `the AI provider returned ${data ? data.length : 'no'} embeddings for ${texts.length} texts`);
    }
    const ordered = [...data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    const embeddings = ordered.map((d) => d.embedding);
    const dimensions = embeddings[0]?.length ?? 0;
    if (!embeddings.every((e) => Array.isArray(e) && e.length === dimensions && e.every((x) => typeof x === 'number' && Number.isFinite(x))) || dimensions === 0) {
      throw new SpacedriveError(ErrorCode.AI_INVALID_ANSWER, 'the AI provider returned embeddings that are not equal-length arrays of numbers');
    }
    return { embeddings, model: typeof reply.model === 'string' ? reply.model : model, dimensions };
  }

  async #post(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const url = this.#opts.base_url + path;
    const timeout = AbortSignal.timeout(this.#opts.timeout_ms);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.#opts.api_key) headers.authorization = `Bearer ${this.#opts.api_key}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      text = await res.text();
    } catch (err) {
      if (timeout.aborted) {
        throw new SpacedriveError(ErrorCode.TIMEOUT, `the AI provider at ${url} did not answer within ${this.#opts.timeout_ms} ms (ai.provider.timeout_ms)`, { url });
      }
      if (signal?.aborted) throw new SpacedriveError(ErrorCode.CANCELLED, 'the call was cancelled');
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new SpacedriveError(ErrorCode.AI_PROVIDER_ERROR, `could not reach the AI provider at ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { url });
    }
    if (!res.ok) {
      throw new SpacedriveError(ErrorCode.AI_PROVIDER_ERROR, `the AI provider answered HTTP ${res.status} for ${path}: ${providerMessage(text) ?? res.statusText}`, {
        url,
        status: res.status,
      });
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new SpacedriveError(ErrorCode.AI_INVALID_ANSWER, `the AI provider's reply to ${path} is not JSON: ${preview(text)}`, { url });
    }
  }
}

interface ChatCompletion {
  model?: unknown;
  choices?: Array<{ message?: { content?: unknown } }>;
  usage?: Record<string, unknown>;
}
interface EmbeddingsReply {
  model?: unknown;
  data?: Array<{ index?: number; embedding: number[] }>;
}

function isResponseFormatRefusal(err: unknown): boolean {
  const e = err as SpacedriveError;
  const status = e.details?.status;
  return e.code === ErrorCode.AI_PROVIDER_ERROR && (status === 400 || status === 422) && /response_format|json_schema/i.test(e.message);
}

/** The provider's own message from an OpenAI-style error body, else the body's start. */
function providerMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof body.error === 'string') return body.error;
    if (body.error && typeof body.error.message === 'string') return body.error.message;
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim() ? preview(text) : undefined;
}

function pickUsage(u: Record<string, unknown>): Usage {
  const out: Usage = {};
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens'] as const) if (typeof u[k] === 'number') out[k] = u[k] as number;
  return out;
}

/** Models often wrap JSON in a Markdown code fence even when told not to. */
function stripFences(s: string): string {
  const m = /^\s*```(?:json)?\s*\n?([\s\S]*?)\n?```\s*$/i.exec(s);
  return (m ? m[1]! : s).trim();
}

const preview = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}…` : s);
