/** The HTTP listener's checks (src/http-server/security.ts): Host and Origin, tokens, sessions and CSRF. */
import { describe, expect, it } from 'vitest';
import { HttpSecurity } from '../../src/http-server/security.js';

const TOKEN = 'a-token-of-sufficient-length-0123456789';

function make(listenHost = '127.0.0.1', allowedHosts: string[] = [], allowedOrigins: string[] = []): HttpSecurity {
  const s = new HttpSecurity(TOKEN, listenHost, allowedHosts, allowedOrigins);
  s.port = 7780;
  return s;
}

function reason(fn: () => void): unknown {
  try {
    fn();
  } catch (err) {
    return (err as { code: string; details?: { reason?: string } }).details?.reason ?? (err as { code: string }).code;
  }
  return 'accepted';
}

describe('HttpSecurity', () => {
  it('accepts loopback names with the listening port, and refuses anything else as DNS rebinding', () => {
    const s = make();
    for (const host of ['127.0.0.1:7780', 'localhost:7780', 'LOCALHOST:7780', '[::1]:7780']) expect(reason(() => s.checkOrigin(host, undefined)), host).toBe('accepted');
    for (const host of ['evil.example:7780', '127.0.0.1:7781', '127.0.0.1', 'localhost.evil.example:7780', '[::2]:7780', '']) {
      expect(reason(() => s.checkOrigin(host || undefined, undefined)), host).toBe('host');
    }
    expect(reason(() => make('127.0.0.1', ['dev.local']).checkOrigin('dev.local:7780', undefined))).toBe('accepted');
    expect(reason(() => make('::1').checkOrigin('[::1]:7780', undefined))).toBe('accepted');
  });

  it('accepts an Origin only when it is the same origin or an allowed one', () => {
    const s = make('127.0.0.1', [], ['http://localhost:5173']);
    expect(reason(() => s.checkOrigin('127.0.0.1:7780', 'http://127.0.0.1:7780'))).toBe('accepted');
    expect(reason(() => s.checkOrigin('127.0.0.1:7780', 'http://localhost:5173'))).toBe('accepted');
    for (const origin of ['http://evil.example', 'http://localhost:7780', 'null', 'https://127.0.0.1:7780']) {
      expect(reason(() => s.checkOrigin('127.0.0.1:7780', origin)), origin).toBe('origin');
    }
  });

  it('authenticates a bearer token or a session, and wants the CSRF token for a session\'s writes', () => {
    const s = make();
    expect(s.authenticate(`Bearer ${TOKEN}`, undefined)).toEqual({ kind: 'bearer' });
    expect(reason(() => s.authenticate('Bearer wrong', undefined))).toBe('UNAUTHENTICATED');
    expect(reason(() => s.authenticate(`Basic ${TOKEN}`, undefined))).toBe('UNAUTHENTICATED');
    expect(s.authenticate(undefined, 'no-such-session')).toBeNull();
    expect(reason(() => s.requireAuth(null, 'GET', undefined))).toBe('UNAUTHENTICATED');
    expect(reason(() => s.login('wrong'))).toBe('UNAUTHENTICATED');

    const { id, session } = s.login(TOKEN);
    const auth = s.authenticate(undefined, id);
    expect(auth).toMatchObject({ kind: 'session', id });
    expect(reason(() => s.requireAuth(auth, 'GET', undefined))).toBe('accepted');
    expect(reason(() => s.requireAuth(auth, 'POST', undefined))).toBe('csrf');
    expect(reason(() => s.requireAuth(auth, 'DELETE', 'wrong'))).toBe('csrf');
    expect(reason(() => s.requireAuth(auth, 'POST', session.csrfToken))).toBe('accepted');
    s.logout(id);
    expect(s.authenticate(undefined, id)).toBeNull();
  });
});
