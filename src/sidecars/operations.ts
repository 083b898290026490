/** Wire operations of sidecars: write, read (checksum verified), list, delete. */
import { ErrorCode, SpacedriveError } from '../errors/index.js';
import { libraryIdProperty, libraryOf, type SidecarRecord } from '../library/index.js';
import { decodeBase64Field } from '../schema/index.js';
import type { OperationContext } from '../registry/index.js';
import { operationsWith } from '../modules/index.js';
import type { LibraryService } from '../library/libraries.js';
import { encodingOf, type SidecarService } from './service.js';

/** The services sidecar handlers see as `ctx.core` (the sidecars module declares them). */
export interface SidecarHandlerServices {
  sidecars: SidecarService;
  libraries: Pick<LibraryService, 'resolve'>;
}
const defineOperation = operationsWith<SidecarHandlerServices>();

const NAME = '^[a-z0-9][a-z0-9_.:-]*$';

const kindProperty = { type: 'string', minLength: 1, maxLength: 100, pattern: NAME, description: 'ocr, thumb, embeddings, or an extension’s own kind such as finance.receipt.' } as const;
const variantProperty = { type: 'string', minLength: 1, maxLength: 100, pattern: NAME, default: 'default', description: 'Variant of the kind (e.g. a thumbnail size).' } as const;
/** Names one sidecar of an entry: the input of reading and deleting one. */
const sidecarOfEntryInput = {
  type: 'object',
  additionalProperties: false,
  required: ['entry_id', 'kind'],
  properties: { library_id: libraryIdProperty, entry_id: { type: 'string', minLength: 1 }, kind: kindProperty, variant: variantProperty },
} as const;

/** A sidecar as the wire shows it (`path` is the file's absolute path on the daemon's machine). */
export interface WireSidecar {
  sidecar_id: string;
  content_key: string;
  kind: string;
  variant: string;
  format: string;
  path: string;
  checksum: string;
  size: number;
  created_at: string;
  updated_at: string;
}

const sidecarSchema = {
  type: 'object',
  required: ['sidecar_id', 'kind', 'variant', 'format', 'path', 'checksum', 'size'],
  properties: {
    sidecar_id: { type: 'string' },
    content_key: { type: 'string' },
    kind: { type: 'string' },
    variant: { type: 'string' },
    format: { type: 'string' },
    path: { type: 'string' },
    checksum: { type: 'string' },
    size: { type: 'integer' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
} as const;

function toWire(s: SidecarRecord, absolute: (rel: string) => string): WireSidecar {
  return {
    sidecar_id: s.id,
    content_key: s.contentKey,
    kind: s.kind,
    variant: s.variant,
    format: s.format,
    path: absolute(s.path),
    checksum: s.checksum,
    size: s.size,
    created_at: new Date(s.createdAt).toISOString(),
    updated_at: new Date(s.updatedAt).toISOString(),
  };
}

interface WriteInput {
  library_id?: string;
  entry_id: string;
  kind: string;
  variant?: string;
  format: string;
  data?: string;
  text?: string;
  json?: unknown;
}

/** The bytes to store, from exactly one of data (base64), text or json; JSON formats must hold JSON. */
function bytesOf(input: WriteInput): Buffer {
  const given = (['data', 'text', 'json'] as const).filter((k) => input[k] !== undefined);
  if (given.length !== 1) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: give exactly one of 'data' (base64), 'text' or 'json' (got ${given.length === 0 ? 'none' : given.join(', ')})`, {
      problems: [{ field: 'data', expected: "exactly one of 'data', 'text', 'json'" }],
    });
  }
  let bytes: Buffer;
  if (input.data !== undefined) bytes = decodeBase64Field('data', input.data);
  else if (input.text !== undefined) bytes = Buffer.from(input.text, 'utf8');
  else bytes = Buffer.from(JSON.stringify(input.json), 'utf8');
  if (input.format === 'json' && input.json === undefined) {
    try {
      JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: format 'json' needs JSON, and the ${given[0]} given does not parse as JSON`, {
        problems: [{ field: given[0], expected: 'JSON text' }],
      });
    }
  }
  return bytes;
}

export const writeSidecar = defineOperation<WriteInput, WireSidecar>({
  method: 'action:vdfs.write_sidecar.input.v1',
  kind: 'action',
  scope: 'library',
  description:
    "Writes derived data for an entry's content (kind, variant, format) as a checksummed file; writing the same kind and variant again replaces it atomically. Give exactly one of data (base64), text or json.",
  input: {
    type: 'object',
    additionalProperties: false,
    required: ['entry_id', 'kind', 'format'],
    properties: {
      library_id: libraryIdProperty,
      entry_id: { type: 'string', minLength: 1 },
      kind: kindProperty,
      variant: variantProperty,
      format: { type: 'string', minLength: 1, maxLength: 16, pattern: '^[a-z0-9]+$', description: 'json, txt, webp, png, bin, …' },
      data: { type: 'string', contentEncoding: 'base64', description: 'The bytes (a file path from the CLI).' },
      text: { type: 'string', description: 'UTF-8 text.' },
      json: { description: 'Any JSON value (stored as JSON text).' },
    },
  },
  output: sidecarSchema,
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const sidecars = ctx.core.sidecars;
    const row = await sidecars.write(libraryId, input.entry_id, { kind: input.kind, variant: input.variant ?? 'default', format: input.format, bytes: bytesOf(input) });
    return toWire(row, (rel) => sidecars.absolutePath(rel));
  },
});

export const readSidecar = defineOperation<{ library_id?: string; entry_id: string; kind: string; variant?: string }, WireSidecar & Record<string, unknown>>({
  method: 'query:vdfs.read_sidecar.v1',
  kind: 'query',
  scope: 'library',
  description: 'Reads a sidecar, verified against its checksum (CHECKSUM_MISMATCH when the file was corrupted): json formats as `json`, text formats as `text`, others as base64 `data`.',
  input: sidecarOfEntryInput,
  output: {
    ...sidecarSchema,
    required: [...sidecarSchema.required, 'encoding'],
    properties: { ...sidecarSchema.properties, encoding: { enum: ['json', 'text', 'base64'] }, json: {}, text: { type: 'string' }, data: { type: 'string', contentEncoding: 'base64' } },
  },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const sidecars = ctx.core.sidecars;
    const { sidecar, bytes } = await sidecars.read(libraryId, input.entry_id, input.kind, input.variant ?? 'default');
    const encoding = encodingOf(sidecar.format);
    const base = { ...toWire(sidecar, (rel) => sidecars.absolutePath(rel)), entry_id: input.entry_id, encoding };
    if (encoding === 'json') {
      try {
        return { ...base, json: JSON.parse(bytes.toString('utf8')) as unknown };
      } catch {
        // Written as bytes that are not JSON (the write checks, so only by hand): give the bytes.
        return { ...base, encoding: 'base64', data: bytes.toString('base64') };
      }
    }
    if (encoding === 'text') return { ...base, text: bytes.toString('utf8') };
    return { ...base, data: bytes.toString('base64') };
  },
});

export const listSidecars = defineOperation<{ library_id?: string; entry_id?: string; kind?: string }, { sidecars: WireSidecar[] }>({
  method: 'query:vdfs.list_sidecars.v1',
  kind: 'query',
  scope: 'library',
  description: "Lists sidecars of the library, of one entry's content, and/or of one kind.",
  input: {
    type: 'object',
    additionalProperties: false,
    properties: { library_id: libraryIdProperty, entry_id: { type: 'string', minLength: 1 }, kind: kindProperty },
  },
  output: { type: 'object', required: ['sidecars'], properties: { sidecars: { type: 'array', items: sidecarSchema } } },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const sidecars = ctx.core.sidecars;
    const rows = await sidecars.list(libraryId, { ...(input.entry_id !== undefined ? { entryId: input.entry_id } : {}), ...(input.kind !== undefined ? { kind: input.kind } : {}) });
    return { sidecars: rows.map((r) => toWire(r, (rel) => sidecars.absolutePath(rel))) };
  },
});

export const deleteSidecar = defineOperation<{ library_id?: string; entry_id: string; kind: string; variant?: string }, { deleted: true; sidecar_id: string }>({
  method: 'action:vdfs.delete_sidecar.input.v1',
  kind: 'action',
  scope: 'library',
  description: "Deletes a sidecar of an entry's content (its file too, when no library uses it).",
  input: sidecarOfEntryInput,
  output: { type: 'object', required: ['deleted', 'sidecar_id'], properties: { deleted: { const: true }, sidecar_id: { type: 'string' } } },
  handler: async (input, ctx) => {
    const libraryId = await libraryOf(input, ctx);
    const row = await ctx.core.sidecars.delete(libraryId, input.entry_id, input.kind, input.variant ?? 'default');
    return { deleted: true as const, sidecar_id: row.id };
  },
});

export const sidecarOperations = [writeSidecar, readSidecar, listSidecars, deleteSidecar];
