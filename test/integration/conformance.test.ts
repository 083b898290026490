/**
 * The conformance kit: the reference extension (conformance/reference.wat) passes every check,
 * modules that break one rule of the contract fail the check for that rule, and the C example
 * (examples/c-hello, built here with clang --target=wasm32) passes — a third language working
 * from the ABI document and the kit alone.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runConformance, type ConformanceReport } from '../../src/authoring/conformance.js';
import { REPO_ROOT } from '../helpers/daemon.js';

const REFERENCE = join(REPO_ROOT, 'conformance', 'reference.wat');
const work = mkdtempSync(join(tmpdir(), 'sd-conformance-test-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function failed(report: ConformanceReport): string[] {
  return report.checks.filter((c) => !c.ok).map((c) => c.name);
}

/** The reference with one rule broken (a text substitution that must apply). */
function variant(name: string, from: string, to: string): string {
  const text = readFileSync(REFERENCE, 'utf8');
  expect(text.includes(from), `the reference contains ${from}`).toBe(true);
  const path = join(work, `${name}.wat`);
  writeFileSync(path, text.replace(from, to));
  return path;
}

describe('conformance kit', () => {
  it('the reference extension passes every check', async () => {
    const report = await runConformance(REFERENCE);
    expect(failed(report)).toEqual([]);
    expect(report.checks.length).toBeGreaterThanOrEqual(10);
    expect(report.ok).toBe(true);
  });

  it('a module importing from outside the host module fails the ABI check and is not run', async () => {
    const report = await runConformance(variant('env-import', '(memory (export "memory") 1)', '(import "env" "abort" (func (param i32)))\n  (memory (export "memory") 1)'));
    expect(failed(report)).toEqual(['abi: imports and exports']);
    expect(report.checks).toHaveLength(1);
  });

  it('a job that ignores its checkpoint fails the pause/resume and crash/resume checks', async () => {
    const report = await runConformance(variant('no-resume', '(data (i32.const 1296) "\\"done\\":\\00")', '(data (i32.const 1296) "\\"dune\\":\\00")'));
    expect(failed(report)).toEqual(['jobs: a pause is answered with the state, and resume continues from it', 'jobs: after a crash right after a checkpoint, the job resumes from it']);
  });

  it('an error with a code the caller may not see fails the errors check', async () => {
    const report = await runConformance(variant('bad-code', '\\"NOT_FOUND\\"', '\\"OOPS\\"'));
    expect(failed(report)).toEqual(['errors: sd_error code and message reach the caller']);
  });

  it('the C example, built with clang --target=wasm32, passes', async () => {
    const wasm = join(work, 'c-hello.wasm');
    execFileSync('clang', ['--target=wasm32', '-mbulk-memory', '-nostdlib', '-O2', '-Wl,--no-entry', '-Wl,--export-dynamic', '-o', wasm, join(REPO_ROOT, 'examples', 'c-hello', 'hello.c')], { stdio: 'pipe' });
    const report = await runConformance(wasm);
    expect(failed(report)).toEqual([]);
  });
});
