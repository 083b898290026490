/**
 * The token that authenticates clients on the daemon's network listeners: TCP (the wire) and
 * HTTP (`Authorization: Bearer`, or `POST /v1/login` for a browser session). It is `tcp.token`
 * when one is configured, so both listeners take the same token; otherwise a random token kept in
 * `<dataDir>/keys/api.token` (mode 0600, created on first use). `spacedrive daemon token` prints it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { SpacedriveOptions } from '../config/index.js';
import { ErrorCode, SpacedriveError, hasErrorCode } from '../errors/index.js';

export function apiTokenPath(dataDir: string): string {
  return join(dataDir, 'keys', 'api.token');
}

export interface ApiToken {
  token: string;
  /** `config` (tcp.token) or the file it was read from (or created in). */
  source: 'config' | string;
  created: boolean;
}

/** The API token, creating the token file when there is neither a configured token nor a file. */
export function readOrCreateApiToken(options: SpacedriveOptions): ApiToken {
  if (options.tcp?.token) return { token: options.tcp.token, source: 'config', created: false };
  const file = apiTokenPath(options.dataDir);
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length < 16) throw new SpacedriveError(ErrorCode.CONFIG_INVALID, `${file} holds no usable token (at least 16 characters); delete it to have a new one made`, { file });
    return { token, source: file, created: false };
  } catch (err) {
    if (!hasErrorCode(err, 'ENOENT')) throw err;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  try {
    // `wx`: a token another process wrote meanwhile wins, and is read back.
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if (hasErrorCode(err, 'EEXIST')) return readOrCreateApiToken(options);
    throw err;
  }
  return { token, source: file, created: true };
}
