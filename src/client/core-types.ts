/**
 * The core capabilities' method types. Each capability adds its methods to `KnownQueries` /
 * `KnownActions` by declaration merging in its own folder; a declaration merge applies only in a
 * program that contains its file, so this module pulls every one of them in (types only: nothing
 * here loads at run time). The client entry imports it, so that a program importing
 * `spacedrive-extensions/client` sees `client.query('query:jobs.get_status.v1', …)` typed.
 * A capability that adds client types adds one line here.
 */
export type {} from '../ai/operations.js';
export type {} from '../credentials/operations.js';
export type {} from '../http/operations.js';
export type {} from '../jobs/client-types.js';
export type {} from '../library/client-types.js';
export type {} from '../sidecars/client-types.js';
