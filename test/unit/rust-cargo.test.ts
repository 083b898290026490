/**
 * The Rust crates' own unit tests (`cargo test`): the SDK (schemas, base64, method names) and
 * finance-rs's receipt parser, built offline with Debian's toolchain as scripts/build-extensions.mjs
 * builds the modules (its RUST_PACKAGES; scripts/test-env.sh installs them for npm test).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/daemon.js';

const CONFIG = ['--config', 'source.crates-io.replace-with="debian"', '--config', 'source.debian.directory="/usr/share/cargo/registry"', '--config', 'net.offline=true'];

function cargoTest(dir: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}`, RUSTC: '/usr/bin/rustc', CARGO_TARGET_DIR: join(REPO_ROOT, 'build', 'rust-target'), CARGO_TERM_COLOR: 'never' };
  delete env.RUSTUP_TOOLCHAIN;
  return spawnSync('/usr/bin/cargo', ['test', '--quiet', ...CONFIG], { cwd: join(REPO_ROOT, dir), env, encoding: 'utf8' });
}

for (const dir of ['sdk/rust', 'extensions/finance-rs']) {
  it(`cargo test passes in ${dir}`, { timeout: 600_000 }, () => {
    const r = cargoTest(dir);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/test result: ok\. [1-9]\d* passed; 0 failed/);
  });
}
