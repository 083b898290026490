/**
 * Typed client surface for libraries, entries and locations, added to the client's known methods
 * by declaration merging (see src/client/types.ts).
 */
import type { CreateEntryInput, WireEntry, WireLocation } from './operations.js';

interface WireLibrary {
  id: string;
  name: string;
  created_at: string;
  is_default: boolean;
}

/** Every library-scoped input also takes `library_id` (default: the request's, else the default library). */
interface InLibrary {
  library_id?: string;
}

declare module '../client/types.js' {
  interface KnownQueries {
    'query:libraries.list.v1': { input: Record<string, never>; output: { libraries: WireLibrary[]; default_library_id: string | null } };
    'query:libraries.info.v1': {
      input: InLibrary;
      output: WireLibrary & { entries: number; locations: number; sidecars: number; size_bytes: number; sidecar_bytes: number; database_bytes: number };
    };
    'query:vdfs.get_entry.v1': { input: InLibrary & { entry_id: string; include_content?: boolean }; output: WireEntry };
    'query:vdfs.list_entries.v1': {
      input: InLibrary & {
        entry_type?: string;
        name_contains?: string;
        path_prefix?: string;
        location_id?: string;
        metadata?: Record<string, unknown>;
        limit?: number;
        cursor?: string;
      };
      output: { entries: WireEntry[]; next_cursor: string | null };
    };
    'query:locations.list.v1': { input: InLibrary; output: { locations: WireLocation[] } };
  }
  interface KnownActions {
    'action:libraries.create.input.v1': { input: { name: string; make_default?: boolean }; output: WireLibrary };
    'action:vdfs.create_entry.input.v1': {
      input: CreateEntryInput;
      output: WireEntry & { created: boolean; replaced: boolean };
    };
    'action:vdfs.update_metadata.input.v1': { input: InLibrary & { entry_id: string; metadata: Record<string, unknown>; replace?: boolean }; output: WireEntry };
    'action:vdfs.delete_entry.input.v1': { input: InLibrary & { entry_id: string }; output: { deleted: true; entry_id: string } };
    'action:locations.add.input.v1': { input: InLibrary & { path: string; name?: string }; output: { location: WireLocation; job_id: string } };
    'action:locations.rescan.input.v1': { input: InLibrary & { location_id: string }; output: { job_id: string; deduplicated: boolean } };
    'action:locations.remove.input.v1': { input: InLibrary & { location_id: string; keep_entries?: boolean }; output: { location: WireLocation; removed_entries: number } };
  }
}
