import type { SpacedriveError } from '../../src/errors/index.js';

/**
 * The error a promise rejects with, typed as our error; fails the test when the promise resolves
 * instead. Replaces `p.catch((e) => e)`, which hides a resolution and types the result `unknown`.
 */
export async function rejectionOf(promise: Promise<unknown>): Promise<SpacedriveError> {
  let value: unknown;
  try {
    value = await promise;
  } catch (err) {
    return err as SpacedriveError;
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(value)?.slice(0, 200)}`);
}
