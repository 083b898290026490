/**
 * HTTP for extensions (issue 5 item 5): a host fetch that reaches only the hosts a manifest
 * allows, with size and time limits. Operation `action:http.fetch.input.v1`.
 */
export { hostFetch, hostAllowed, isNonPublicAddress, type HostFetchOptions, type HttpFetchRequest, type HttpFetchResponse } from './fetch.js';
export { httpOperations, httpFetch, fetchOptionsOf, type HttpHandlerServices } from './operations.js';
import { defineModule } from '../modules/index.js';
import { httpOperations, type HttpHandlerServices } from './operations.js';

/** The HTTP module (`http`): `action:http.fetch.input.v1`, no service of its own. */
export const httpModule = defineModule<{}, undefined, HttpHandlerServices>()({
  name: 'http',
  dependsOn: [],
  operationsUse: ['options', 'extensions'],
  operations: httpOperations,
});
