/**
 * Typed client surface for sidecars, added to the client's known methods by declaration merging
 * (see src/client/types.ts).
 */
import type { WireSidecar } from './operations.js';

declare module '../client/types.js' {
  interface KnownQueries {
    'query:vdfs.read_sidecar.v1': {
      input: { library_id?: string; entry_id: string; kind: string; variant?: string };
      /** `json` for json formats, `text` for text formats, base64 `data` for the rest (see `encoding`). */
      output: WireSidecar & { entry_id: string; encoding: 'json' | 'text' | 'base64'; json?: unknown; text?: string; data?: string };
    };
    'query:vdfs.list_sidecars.v1': { input: { library_id?: string; entry_id?: string; kind?: string }; output: { sidecars: WireSidecar[] } };
  }
  interface KnownActions {
    'action:vdfs.write_sidecar.input.v1': {
      /** Exactly one of `data` (base64), `text`, `json`. */
      input: { library_id?: string; entry_id: string; kind: string; variant?: string; format: string; data?: string; text?: string; json?: unknown };
      output: WireSidecar;
    };
    'action:vdfs.delete_sidecar.input.v1': { input: { library_id?: string; entry_id: string; kind: string; variant?: string }; output: { deleted: true; sidecar_id: string } };
  }
}
