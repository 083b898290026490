import { ErrorCode, SpacedriveError } from '../errors/index.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes a base64 field strictly: Node's decoder silently skips characters it does not know,
 * which would store different bytes than the caller meant. Whitespace (line-wrapped base64) is
 * allowed.
 */
export function decodeBase64Field(field: string, text: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact)) {
    throw new SpacedriveError(ErrorCode.INVALID_INPUT, `invalid input: field '${field}': expected base64 (A-Z, a-z, 0-9, +, /, padded with =)`, {
      problems: [{ field, expected: 'base64' }],
    });
  }
  return Buffer.from(compact, 'base64');
}
