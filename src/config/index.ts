/**
 * The one options object. Every field is documented with its default. Layers, later wins:
 *   1. defaults (below)
 *   2. environment (SPACEDRIVE_*; table in {@link ENV})
 *   3. `<dataDir>/config.json`
 *   4. CLI flags / programmatic overrides
 * `dataDir` itself comes from flags, then SPACEDRIVE_DATA_DIR, then the default, since the
 * config file lives inside it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { compileSchema } from '../schema/index.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface SpacedriveOptions {
  /**
   * Directory holding the database, socket, installed extensions and logs.
   * Default `$XDG_DATA_HOME/spacedrive` (else `~/.local/share/spacedrive`).
   * Env `SPACEDRIVE_DATA_DIR`, flag `--data-dir`.
   */
  dataDir: string;
  /** Unix socket the daemon listens on (mode 0600). Default `<dataDir>/daemon.sock`. Env `SPACEDRIVE_SOCKET`. */
  socketPath: string;
  /**
   * Optional TCP listener, loopback only, every connection must authenticate with `token`.
   * Default `null` (off). Env `SPACEDRIVE_TCP_PORT`, `SPACEDRIVE_TCP_HOST` (default 127.0.0.1),
   * `SPACEDRIVE_TCP_TOKEN`.
   */
  tcp: { host: string; port: number; token: string } | null;
  log: {
    /** Default `info`. Env `SPACEDRIVE_LOG_LEVEL`. */
    level: LogLevel;
    /** `pretty` (for a terminal) or `json`. Default `pretty`. Env `SPACEDRIVE_LOG_FORMAT`. */
    format: 'pretty' | 'json';
  };
  wire: {
    /** Largest request frame in bytes, newline excluded. Default 16 MiB. Env `SPACEDRIVE_MAX_FRAME_BYTES`. */
    maxFrameBytes: number;
    /** Deepest JSON nesting accepted in a frame. Default 64. */
    maxJsonDepth: number;
    /** A connection with no request and no subscription for this long is closed. Default 300000 ms; 0 disables. */
    idleTimeoutMs: number;
    /** Requests one connection may have in flight before further reads pause. Default 256. */
    maxInFlightPerConnection: number;
    /** Simultaneous connections; further ones are refused with a reason. Default 1024. */
    maxConnections: number;
  };
  /** The extension host (src/extensions). */
  extensions: ExtensionHostOptions;
  /** The job system (src/jobs). */
  jobs: JobsOptions;
  /** AI capability (src/ai): offline OCR, and text/embedding models behind an OpenAI-compatible API. */
  ai: AiOptions;
  /** Credentials store (src/credentials): secrets encrypted at rest in `<dataDir>/credentials.db`. */
  credentials: CredentialsOptions;
  /** Host HTTP fetch (src/http) used by extensions through `action:http.fetch.input.v1`. */
  http: HttpOptions;
}

export interface CredentialsOptions {
  /**
   * File holding the 256-bit key that encrypts secrets (base64 or hex; created with mode 0600 on
   * first use when missing). Default `null`: `<dataDir>/keys/credentials.key`. Env
   * `SPACEDRIVE_CREDENTIALS_KEY_FILE`. The key itself may instead be given in the environment as
   * `SPACEDRIVE_CREDENTIALS_KEY` (base64 or hex; never written anywhere), which wins over the file.
   */
  keyFile: string | null;
}

export interface HttpOptions {
  /** Time limit of a request when the caller gives none. Default 30000 ms. */
  defaultTimeoutMs: number;
  /** Largest `timeout_ms` a caller may ask for. Default 120000 ms. */
  maxTimeoutMs: number;
  /** Largest response body when the caller gives no `max_response_bytes`. Default 4 MiB. */
  defaultMaxResponseBytes: number;
  /** Largest `max_response_bytes` a caller may ask for. Default 16 MiB. */
  maxResponseBytes: number;
  /** Largest request body. Default 8 MiB. */
  maxRequestBytes: number;
  /** Redirects followed (each checked against the caller's allowed hosts). Default 5. */
  maxRedirects: number;
  /**
   * The daemon's own HTTP API, GraphQL and dashboard (src/http-server, docs/http-api.md):
   * `HOST:PORT` to listen on, e.g. `127.0.0.1:7780` (port 0 picks a free one). Default `null`
   * (off). Flag `--http` of `spacedrive daemon`, env `SPACEDRIVE_HTTP_LISTEN`.
   */
  listen: string | null;
  /** `Host` names accepted besides loopback ones (DNS rebinding check). Default `[]`. */
  allowedHosts: string[];
  /**
   * Origins (`http://localhost:5173`) whose pages may call the API besides the daemon's own, e.g.
   * the dashboard's Vite dev server. Default `[]`.
   */
  allowedOrigins: string[];
  /** Allow `listen` on an address that is not loopback. Default `false`. */
  allowNonLoopback: boolean;
}

/**
 * `ai.provider` keeps the OpenAI API's own snake_case names, so a config.json snippet reads the
 * same as the provider's documentation.
 */
export interface AiProviderConfig {
  /**
   * API root including the version path, as OpenAI SDKs take it: `https://api.openai.com/v1`,
   * Ollama `http://127.0.0.1:11434/v1`, llama.cpp `http://127.0.0.1:8080/v1`. Env `SPACEDRIVE_AI_BASE_URL`.
   */
  base_url: string;
  /** Bearer token, when the provider needs one. Env `SPACEDRIVE_AI_API_KEY`. */
  api_key?: string;
  /** Chat model used by `query:ai.classify_text.v1`. Env `SPACEDRIVE_AI_MODEL`. */
  model: string;
  /** Model used by `query:ai.embed.v1`; default `model`. Env `SPACEDRIVE_AI_EMBEDDING_MODEL`. */
  embedding_model?: string;
  /** Per request. Default 60000 ms. Env `SPACEDRIVE_AI_TIMEOUT_MS`. */
  timeout_ms: number;
}

export interface AiOptions {
  /**
   * The OpenAI-compatible endpoint for `classify_text` and `embed`. Default `null`: those two
   * fail with AI_PROVIDER_NOT_CONFIGURED (OCR needs no provider: it runs offline).
   */
  provider: AiProviderConfig | null;
  ocr: {
    /** Tesseract workers kept warm (each ~40 MB), started on first use. Default 1. */
    workers: number;
    /** Calls allowed to wait for a worker before OVERLOADED. Default 32. */
    maxQueue: number;
    /** Largest input file. Default 16 MiB. */
    maxInputBytes: number;
    /** Most PDF pages read by one call. Default 50. */
    maxPages: number;
    /** Largest image in pixels. Default 50 000 000. */
    maxImagePixels: number;
    /** One page's recognition is abandoned (and its worker replaced) after this long. Default 60000 ms. */
    pageTimeoutMs: number;
  };
}

/**
 * Per-extension limits. A manifest's `limits` may ask for values up to the host's
 * {@link ExtensionHostOptions.ceilings}; what it leaves out comes from
 * {@link ExtensionHostOptions.defaults}.
 */
/** Options of the job system (src/jobs); each field with its default. */
export interface JobsOptions {
  /** Jobs running at once across all types. Default 8. Env `SPACEDRIVE_JOBS_MAX_CONCURRENT`. */
  maxConcurrent: number;
  /** Attempts before a failing job is marked failed, unless its type or dispatch says otherwise. Default 3. */
  maxAttempts: number;
  /** First retry delay; doubles each failed attempt, with jitter (half fixed, half random). Default 1000 ms. */
  backoffBaseMs: number;
  /** Largest retry delay. Default 300000 ms (5 min). */
  backoffMaxMs: number;
  /** A running job that reports nothing for this long is stopped and retried from its checkpoint, unless its type sets its own. Default 600000 ms (10 min). */
  stallTimeoutMs: number;
  /** Least time between two `job:progress` events of one job. Default 250 ms. */
  progressEventIntervalMs: number;
  /**
   * SQLite `synchronous` for `<dataDir>/jobs.db` (WAL mode). `NORMAL` (default): a checkpoint that
   * was acknowledged survives a crash or `kill -9` of the daemon, because the WAL write reached the
   * OS before progress() resolved; a power loss or OS crash may lose the last few. `FULL`: fsync
   * on every commit, survives power loss too, at a much lower checkpoint rate.
   * Env `SPACEDRIVE_JOBS_SYNCHRONOUS`.
   */
  synchronous: 'NORMAL' | 'FULL';
  /** How long a graceful stop waits for running jobs to save their state and return. Default 5000 ms. */
  shutdownGraceMs: number;
  /** Finished jobs (completed, failed, cancelled) and their logs are deleted this long after they finished. Default 7 days; 0 keeps them forever. */
  retentionMs: number;
}

export interface ExtensionLimitOptions {
  /** Linear-memory maximum per instance, in MiB. Default 64, ceiling 1024. */
  memoryMb: number;
  /** Wall-clock time one call may run. Default 5000 ms, ceiling 60000 ms. */
  callTimeoutMs: number;
  /** Instances (worker threads) serving concurrent calls. Default 2, ceiling 8. */
  instances: number;
  /** Largest input to one call, in bytes. Default 1 MiB, ceiling 16 MiB. */
  maxInputBytes: number;
  /** Largest output of one call, in bytes. Default 4 MiB, ceiling 16 MiB. */
  maxOutputBytes: number;
  /** Jobs of one extension's types running at once (all its types together). Default 2, ceiling 16. */
  concurrentJobs: number;
  /** Host calls (`sd_call`) one extension may make per minute, as a token bucket. Default 60000, ceiling 6000000. */
  requestsPerMinute: number;
  /** Time limit of one HTTP request (`action:http.fetch.input.v1`) and its default. Default 30000 ms, ceiling 120000 ms. */
  httpTimeoutMs: number;
  /** Largest HTTP response body accepted, and the default. Default 4 MiB, ceiling 16 MiB. */
  httpMaxResponseBytes: number;
  /** Queries and actions one extension's plugin_init may register. Default 1000, ceiling 10000. */
  maxOperations: number;
  /** Job types one extension's plugin_init may register. Default 1000, ceiling 10000. */
  maxJobTypes: number;
  /** JSON text of one registered input, output or params schema, in bytes. Default 64 KiB, ceiling 1 MiB. */
  maxSchemaBytes: number;
  /** JSON text of all of one extension's registrations together, in bytes. Default 4 MiB, ceiling 64 MiB. */
  maxRegistrationBytes: number;
  /**
   * Longest a job handler may run without reporting progress (`sd_job_progress`); past it the
   * attempt fails with EXTENSION_TIMEOUT and is retried from its checkpoint. Default 120000 ms,
   * ceiling 3600000 ms.
   */
  jobProgressTimeoutMs: number;
  /** Largest checkpoint (a job's `state`, as JSON) a job may report. Default 1 MiB, ceiling 16 MiB. */
  maxStateBytes: number;
}

export interface ExtensionHostOptions {
  /** Load enabled extensions when core starts. Default `true`. Env `SPACEDRIVE_EXTENSIONS_AUTOLOAD` (`0` disables). */
  autoload: boolean;
  /** Limits for what a manifest does not ask for. */
  defaults: ExtensionLimitOptions;
  /** The most a manifest may ask for; installing one that asks for more is refused. */
  ceilings: ExtensionLimitOptions;
  /** Time `plugin_init` may take per instance. Default 5000 ms. */
  initTimeoutMs: number;
  /** Calls that may wait for a free instance of one extension before OVERLOADED. Default 1024. */
  maxQueue: number;
  /** Deepest extension call chain (A calls B calls C …). Default 8. */
  maxCallDepth: number;
  /** After a job is asked to pause, how long its handler may take to return its state before it is stopped. Default 5000 ms. */
  jobInterruptGraceMs: number;
  /** On reload, disable or shutdown: how long calls running on the old instances may take to finish. Default 30000 ms. */
  drainTimeoutMs: number;
  /**
   * Run short, self-contained handler calls on a fuel-metered instance on the main thread, sparing
   * them the round trip to a worker thread (docs/extension-abi.md, "Where calls run"). Calls that
   * need the host asynchronously or run long still go to the workers. Default `true`.
   * Env `SPACEDRIVE_EXTENSIONS_INLINE_CALLS` (`0` disables).
   */
  inlineCalls: boolean;
}

export type PartialOptions = {
  [K in keyof SpacedriveOptions]?: SpacedriveOptions[K] extends object | null
    ? SpacedriveOptions[K] extends null | infer O
      ? O extends object
        ? Partial<O> | null
        : SpacedriveOptions[K]
      : SpacedriveOptions[K]
    : SpacedriveOptions[K];
};

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME && env.XDG_DATA_HOME.length > 0 ? env.XDG_DATA_HOME : join(homedir(), '.local', 'share');
  return join(base, 'spacedrive');
}

export function defaultOptions(dataDir: string): SpacedriveOptions {
  return {
    dataDir,
    socketPath: join(dataDir, 'daemon.sock'),
    tcp: null,
    log: { level: 'info', format: 'pretty' },
    wire: {
      maxFrameBytes: 16 * 1024 * 1024,
      maxJsonDepth: 64,
      idleTimeoutMs: 300_000,
      maxInFlightPerConnection: 256,
      maxConnections: 1024,
    },
    extensions: {
      autoload: true,
      defaults: { memoryMb: 64, callTimeoutMs: 5_000, instances: 2, maxInputBytes: 1024 * 1024, maxOutputBytes: 4 * 1024 * 1024, concurrentJobs: 2, requestsPerMinute: 60_000, httpTimeoutMs: 30_000, httpMaxResponseBytes: 4 * 1024 * 1024, maxOperations: 1000, maxJobTypes: 1000, maxSchemaBytes: 64 * 1024, maxRegistrationBytes: 4 * 1024 * 1024, jobProgressTimeoutMs: 120_000, maxStateBytes: 1024 * 1024 },
      ceilings: { memoryMb: 1024, callTimeoutMs: 60_000, instances: 8, maxInputBytes: 16 * 1024 * 1024, maxOutputBytes: 16 * 1024 * 1024, concurrentJobs: 16, requestsPerMinute: 6_000_000, httpTimeoutMs: 120_000, httpMaxResponseBytes: 16 * 1024 * 1024, maxOperations: 10_000, maxJobTypes: 10_000, maxSchemaBytes: 1024 * 1024, maxRegistrationBytes: 64 * 1024 * 1024, jobProgressTimeoutMs: 3_600_000, maxStateBytes: 16 * 1024 * 1024 },
      initTimeoutMs: 5_000,
      maxQueue: 1024,
      maxCallDepth: 8,
      jobInterruptGraceMs: 5_000,
      drainTimeoutMs: 30_000,
      inlineCalls: true,
    },
    jobs: {
      maxConcurrent: 8,
      maxAttempts: 3,
      backoffBaseMs: 1000,
      backoffMaxMs: 300_000,
      stallTimeoutMs: 600_000,
      progressEventIntervalMs: 250,
      synchronous: 'NORMAL',
      shutdownGraceMs: 5000,
      retentionMs: 7 * 24 * 3_600_000,
    },
    ai: {
      provider: null,
      ocr: { workers: 1, maxQueue: 32, maxInputBytes: 16 * 1024 * 1024, maxPages: 50, maxImagePixels: 50_000_000, pageTimeoutMs: 60_000 },
    },
    credentials: { keyFile: null },
    http: {
      defaultTimeoutMs: 30_000,
      maxTimeoutMs: 120_000,
      defaultMaxResponseBytes: 4 * 1024 * 1024,
      maxResponseBytes: 16 * 1024 * 1024,
      maxRequestBytes: 8 * 1024 * 1024,
      maxRedirects: 5,
      listen: null,
      allowedHosts: [],
      allowedOrigins: [],
      allowNonLoopback: false,
    },
  };
}

const AI_PROVIDER_TIMEOUT_MS = 60_000;

function setAiProvider(o: PartialOptions, field: keyof AiProviderConfig, value: string | number): void {
  const provider = { ...(o.ai?.provider ?? {}), [field]: value } as AiProviderConfig;
  o.ai = { ...o.ai, provider };
}

/** Environment variables read, and where each goes. */
export const ENV: Record<string, (o: PartialOptions, v: string) => void> = {
  SPACEDRIVE_SOCKET: (o, v) => (o.socketPath = v),
  SPACEDRIVE_LOG_LEVEL: (o, v) => (o.log = { ...o.log, level: v as LogLevel }),
  SPACEDRIVE_LOG_FORMAT: (o, v) => (o.log = { ...o.log, format: v as 'pretty' | 'json' }),
  SPACEDRIVE_MAX_FRAME_BYTES: (o, v) => (o.wire = { ...o.wire, maxFrameBytes: Number(v) }),
  SPACEDRIVE_TCP_PORT: (o, v) => (o.tcp = { ...(o.tcp ?? {}), port: Number(v) }),
  SPACEDRIVE_TCP_HOST: (o, v) => (o.tcp = { ...(o.tcp ?? {}), host: v }),
  SPACEDRIVE_TCP_TOKEN: (o, v) => (o.tcp = { ...(o.tcp ?? {}), token: v }),
  SPACEDRIVE_JOBS_MAX_CONCURRENT: (o, v) => (o.jobs = { ...o.jobs, maxConcurrent: Number(v) }),
  SPACEDRIVE_JOBS_SYNCHRONOUS: (o, v) => (o.jobs = { ...o.jobs, synchronous: v.toUpperCase() as 'NORMAL' | 'FULL' }),
  SPACEDRIVE_EXTENSIONS_AUTOLOAD: (o, v) => (o.extensions = { ...o.extensions, autoload: v !== '0' && v !== 'false' }),
  SPACEDRIVE_EXTENSIONS_INLINE_CALLS: (o, v) => (o.extensions = { ...o.extensions, inlineCalls: v !== '0' && v !== 'false' }),
  SPACEDRIVE_AI_BASE_URL: (o, v) => setAiProvider(o, 'base_url', v),
  SPACEDRIVE_AI_API_KEY: (o, v) => setAiProvider(o, 'api_key', v),
  SPACEDRIVE_AI_MODEL: (o, v) => setAiProvider(o, 'model', v),
  SPACEDRIVE_AI_EMBEDDING_MODEL: (o, v) => setAiProvider(o, 'embedding_model', v),
  SPACEDRIVE_AI_TIMEOUT_MS: (o, v) => setAiProvider(o, 'timeout_ms', Number(v)),
  SPACEDRIVE_HTTP_LISTEN: (o, v) => (o.http = { ...o.http, listen: v }),
  SPACEDRIVE_CREDENTIALS_KEY_FILE: (o, v) => (o.credentials = { ...o.credentials, keyFile: v }),
};

const extensionLimitsSchema = {
  type: 'object',
  properties: {
    memoryMb: { type: 'integer', minimum: 1, maximum: 4096 },
    callTimeoutMs: { type: 'integer', minimum: 1 },
    instances: { type: 'integer', minimum: 1, maximum: 256 },
    maxInputBytes: { type: 'integer', minimum: 1 },
    maxOutputBytes: { type: 'integer', minimum: 1 },
    concurrentJobs: { type: 'integer', minimum: 1 },
    requestsPerMinute: { type: 'integer', minimum: 1 },
    httpTimeoutMs: { type: 'integer', minimum: 1 },
    httpMaxResponseBytes: { type: 'integer', minimum: 1 },
    maxOperations: { type: 'integer', minimum: 1 },
    maxJobTypes: { type: 'integer', minimum: 1 },
    maxSchemaBytes: { type: 'integer', minimum: 1 },
    maxRegistrationBytes: { type: 'integer', minimum: 1 },
    jobProgressTimeoutMs: { type: 'integer', minimum: 1 },
    maxStateBytes: { type: 'integer', minimum: 1 },
  },
};

const optionsSchema = {
  type: 'object',
  required: ['dataDir', 'socketPath', 'tcp', 'log', 'wire'],
  properties: {
    dataDir: { type: 'string', minLength: 1 },
    socketPath: { type: 'string', minLength: 1, maxLength: 107 },
    tcp: {
      anyOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['host', 'port', 'token'],
          properties: {
            host: { enum: ['127.0.0.1', '::1', 'localhost'] },
            port: { type: 'integer', minimum: 0, maximum: 65535 },
            token: { type: 'string', minLength: 16 },
          },
        },
      ],
    },
    log: {
      type: 'object',
      properties: {
        level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
        format: { enum: ['pretty', 'json'] },
      },
    },
    wire: {
      type: 'object',
      properties: {
        maxFrameBytes: { type: 'integer', minimum: 1024 },
        maxJsonDepth: { type: 'integer', minimum: 2, maximum: 1000 },
        idleTimeoutMs: { type: 'integer', minimum: 0 },
        maxInFlightPerConnection: { type: 'integer', minimum: 1 },
        maxConnections: { type: 'integer', minimum: 1 },
      },
    },
    extensions: {
      type: 'object',
      properties: {
        autoload: { type: 'boolean' },
        defaults: extensionLimitsSchema,
        ceilings: extensionLimitsSchema,
        initTimeoutMs: { type: 'integer', minimum: 1 },
        maxQueue: { type: 'integer', minimum: 0 },
        maxCallDepth: { type: 'integer', minimum: 1, maximum: 64 },
        jobInterruptGraceMs: { type: 'integer', minimum: 0 },
        drainTimeoutMs: { type: 'integer', minimum: 0 },
        inlineCalls: { type: 'boolean' },
      },
    },
    jobs: {
      type: 'object',
      properties: {
        maxConcurrent: { type: 'integer', minimum: 1 },
        maxAttempts: { type: 'integer', minimum: 1 },
        backoffBaseMs: { type: 'integer', minimum: 0 },
        backoffMaxMs: { type: 'integer', minimum: 0 },
        stallTimeoutMs: { type: 'integer', minimum: 1 },
        progressEventIntervalMs: { type: 'integer', minimum: 0 },
        synchronous: { enum: ['NORMAL', 'FULL'] },
        shutdownGraceMs: { type: 'integer', minimum: 0 },
        retentionMs: { type: 'integer', minimum: 0 },
      },
    },
    credentials: {
      type: 'object',
      properties: { keyFile: { type: ['string', 'null'], minLength: 1 } },
    },
    http: {
      type: 'object',
      properties: {
        defaultTimeoutMs: { type: 'integer', minimum: 1 },
        maxTimeoutMs: { type: 'integer', minimum: 1 },
        defaultMaxResponseBytes: { type: 'integer', minimum: 1 },
        maxResponseBytes: { type: 'integer', minimum: 1 },
        maxRequestBytes: { type: 'integer', minimum: 0 },
        maxRedirects: { type: 'integer', minimum: 0, maximum: 20 },
        listen: { anyOf: [{ type: 'null' }, { type: 'string', pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$' }] },
        allowedHosts: { type: 'array', items: { type: 'string', minLength: 1 } },
        allowedOrigins: { type: 'array', items: { type: 'string', pattern: '^https?://[^/]+$' } },
        allowNonLoopback: { type: 'boolean' },
      },
    },
    ai: {
      type: 'object',
      properties: {
        provider: {
          anyOf: [
            { type: 'null' },
            {
              type: 'object',
              required: ['base_url', 'model', 'timeout_ms'],
              properties: {
                base_url: { type: 'string', pattern: '^https?://' },
                api_key: { type: 'string' },
                model: { type: 'string', minLength: 1 },
                embedding_model: { type: 'string', minLength: 1 },
                timeout_ms: { type: 'integer', minimum: 1 },
              },
            },
          ],
        },
        ocr: {
          type: 'object',
          properties: {
            workers: { type: 'integer', minimum: 1, maximum: 16 },
            maxQueue: { type: 'integer', minimum: 0 },
            maxInputBytes: { type: 'integer', minimum: 1024 },
            maxPages: { type: 'integer', minimum: 1 },
            maxImagePixels: { type: 'integer', minimum: 1 },
            pageTimeoutMs: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
  },
};
const validateOptions = compileSchema<SpacedriveOptions>(optionsSchema, { code: ErrorCode.CONFIG_INVALID, what: 'configuration' });

function merge<T>(base: T, over: unknown): T {
  if (over === undefined) return base;
  if (over === null || typeof over !== 'object' || Array.isArray(over) || base === null || typeof base !== 'object') return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    if (v === undefined) continue;
    out[k] = merge(out[k], v);
  }
  return out as T;
}

export interface LoadOptionsInput {
  /** Highest layer: CLI flags or a programmatic caller. */
  overrides?: PartialOptions;
  env?: NodeJS.ProcessEnv;
}

/** Builds the options object from the four layers and validates it. */
export function loadOptions(input: LoadOptionsInput = {}): SpacedriveOptions {
  const env = input.env ?? process.env;
  const overrides = input.overrides ?? {};
  const dataDir = resolve(overrides.dataDir ?? (env.SPACEDRIVE_DATA_DIR || defaultDataDir(env)));
  let options: SpacedriveOptions = defaultOptions(dataDir);

  const fromEnv: PartialOptions = {};
  for (const [name, apply] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') apply(fromEnv, v);
  }
  if (fromEnv.tcp) fromEnv.tcp = { host: '127.0.0.1', ...fromEnv.tcp };
  options = merge(options, fromEnv);

  const file = join(dataDir, 'config.json');
  if (existsSync(file)) {
    let fromFile: unknown;
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    options = merge(options, fromFile);
  }
  options = merge(options, { ...overrides, dataDir });
  if (options.tcp && !('host' in options.tcp)) (options.tcp as { host: string }).host = '127.0.0.1';
  if (options.ai.provider) options.ai.provider = { ...options.ai.provider, timeout_ms: options.ai.provider.timeout_ms ?? AI_PROVIDER_TIMEOUT_MS };
  try {
    return validateOptions(options);
  } catch (err) {
    if (options.socketPath.length > 107) {
      throw new SpacedriveError(
        ErrorCode.CONFIG_INVALID,
        `socket path ${options.socketPath} is longer than the 107 bytes a Unix socket allows; choose a shorter --data-dir or set SPACEDRIVE_SOCKET`,
      );
    }
    throw err;
  }
}
