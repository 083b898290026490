/** A path that core code is about to read or write for someone, and why (for the error). */
export interface PathAccess {
  path: string;
  access: 'read' | 'write';
  /** What names it, e.g. `files.copy source`, `core.count ack_file`. */
  what: string;
}

/**
 * Throws PERMISSION_DENIED unless `actor` (a job's `dispatched_by`, or a caller: `client`,
 * `core`, `extension:<id>`) may touch these paths. The extensions module implements it from each
 * extension's filesystem grants; capabilities that touch paths for others depend on this shape.
 */
export interface PathGuard {
  checkPaths(actor: string, requests: readonly PathAccess[]): Promise<void>;
}
