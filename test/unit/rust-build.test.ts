/**
 * scripts/build-extensions.mjs and the Rust extensions: without Debian's Rust toolchain a Rust
 * extension is skipped with a message naming the packages to install, and the build still
 * succeeds (everything else builds); with it, the module is up to date by content.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon.js';

const build = (env: Record<string, string>) =>
  spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-extensions.mjs'), '--only', 'hello-rs'], { cwd: REPO_ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });

it('skips a Rust extension with what to install when the toolchain is missing, and does not fail the build', () => {
  const r = build({ SPACEDRIVE_CARGO: '/nonexistent/cargo' });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/skipped hello-rs \(Rust\): the Rust toolchain \(\/nonexistent\/cargo, .*\) is not installed; install them with: apt-get install rustc cargo libstd-rust-dev-wasm32 lld librust-serde-dev/);
  expect(r.stdout).toContain('0 built, 0 up to date, 0 failed');
});

it('finds a built Rust extension up to date when nothing it is built from changed', () => {
  const r = build({});
  expect(r.status, r.stdout + r.stderr).toBe(0);
  expect(r.stdout).toContain('up to date (hello-rs)');
});
