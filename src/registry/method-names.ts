/**
 * Method names, as the design writes them:
 *   core:       query:<domain>.<name>.v1        action:<domain>.<name>.input.v1
 *   extension:  query:<ext-id>:<name>.v1        action:<ext-id>:<name>.input.v1
 * and job types: core `<domain>.<name>`, extension `<ext-id>:<name>`.
 */
import type { OperationKind } from './types.js';

const NAME = '[a-z][a-z0-9_]*';
const DOMAIN_NAME = `${NAME}(?:\\.${NAME})+`; // files.copy, core.status, vdfs.create_entry
export const EXTENSION_ID_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
/**
 * An extension's operation or job name, as docs/extension-abi.md has it: letters, digits, `_`
 * and `-` in dot-separated parts (`classify_receipt`, `receipts.import`), never `:`, at most 128
 * characters. A part may not look like a version (`v2`): `finance:receipts.v2` is version 2 of
 * `receipts`, never a name. The sandbox's guest runtime checks the same (it cannot import this).
 */
const EXT_PART = '(?!v\\d+(?:\\.|$))[A-Za-z_][A-Za-z0-9_-]*';
const EXT_NAME = `${EXT_PART}(?:\\.(?!v\\d+(?:\\.|$))[A-Za-z0-9_-]+)*`;
export const EXTENSION_NAME_PATTERN = new RegExp(`^(?=.{1,128}$)${EXT_NAME}$`);
const CORE_QUERY = new RegExp(`^query:(${DOMAIN_NAME})\\.v(\\d+)$`);
const CORE_ACTION = new RegExp(`^action:(${DOMAIN_NAME})\\.input\\.v(\\d+)$`);
const EXT_QUERY = new RegExp(`^query:([a-z][a-z0-9_-]*):(${EXT_NAME})\\.v(\\d+)$`);
const EXT_ACTION = new RegExp(`^action:([a-z][a-z0-9_-]*):(${EXT_NAME})\\.input\\.v(\\d+)$`);

export interface ParsedMethod {
  kind: OperationKind;
  /** `core` for core methods, else the extension id. */
  namespace: string;
  /** `files.copy` for core, `classify_receipt` for an extension. */
  name: string;
  version: number;
}

export function parseMethod(method: string): ParsedMethod | undefined {
  let m = CORE_QUERY.exec(method);
  if (m) return { kind: 'query', namespace: 'core', name: m[1]!, version: Number(m[2]) };
  m = CORE_ACTION.exec(method);
  if (m) return { kind: 'action', namespace: 'core', name: m[1]!, version: Number(m[2]) };
  m = EXT_QUERY.exec(method);
  if (m) return { kind: 'query', namespace: m[1]!, name: m[2]!, version: Number(m[3]) };
  m = EXT_ACTION.exec(method);
  if (m) return { kind: 'action', namespace: m[1]!, name: m[2]!, version: Number(m[3]) };
  return undefined;
}

export function queryMethod(name: string, version = 1): string {
  return `query:${name}.v${version}`;
}

export function actionMethod(name: string, version = 1): string {
  return `action:${name}.input.v${version}`;
}

/** `query:<ext>:<name>.v1` / `action:<ext>:<name>.input.v1` */
export function extensionMethod(kind: OperationKind, extensionId: string, name: string, version = 1): string {
  return kind === 'query' ? `query:${extensionId}:${name}.v${version}` : `action:${extensionId}:${name}.input.v${version}`;
}

/**
 * Expands a short method name the way the CLI accepts it:
 *   `finance:classify_receipt` (query)  -> `query:finance:classify_receipt.v1`
 *   `files.copy` (action)               -> `action:files.copy.input.v1`
 *   `files.copy.input`, `core.status.v2`, full names -> as expected.
 */
export function expandMethodName(kind: OperationKind, name: string): string {
  if (name.startsWith('query:') || name.startsWith('action:')) return name;
  let base = name;
  let version = 1;
  const v = /\.v(\d+)$/.exec(base);
  if (v) {
    version = Number(v[1]);
    base = base.slice(0, -v[0].length);
  }
  if (kind === 'action') base = base.replace(/\.input$/, '');
  return kind === 'query' ? `query:${base}.v${version}` : `action:${base}.input.v${version}`;
}
