/**
 * Bench section `authoring`: edit → reloaded for the project `spacedrive extension new` makes
 * (AssemblyScript), as `spacedrive extension dev` runs it: a source file is saved, the dev loop
 * sees it, rebuilds (dev build, compiler warm in the process) and reloads the package into a
 * running core (`extensions.reload --from`, as the CLI asks the daemon), and the edit is measured
 * until the new behaviour answers a query. Each edit changes the greeting, so an answer with the
 * new text proves the new module serves.
 *
 * Baseline, same run: the loop before these commands — a release build by a fresh compiler
 * process (`asc -O3` as `npm run build` ran it) followed by the same reload.
 *
 * Check: edit → reloaded p50 ≤ 3,000 ms (the target; it was 35–63 s by hand).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildProject, DevSession, newProject } from '../authoring/index.js';
import { asPackagesDir, ascModule, jsonAsTransform } from '../authoring/toolchain.js';
import { loadOptions, type PartialOptions } from '../config/index.js';
import { Core } from '../core/index.js';
import { silentLogger } from '../logging/index.js';
import { check, summarise, type BenchSection } from './harness.js';

const EDITS = 6;
const ID = 'benchdev';

async function answers(core: Core, greeting: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = (await core.execute(`query:${ID}:greet.v1`, { name: 'Ada' })) as { greeting: string };
    if (out.greeting === greeting) return;
    if (Date.now() > deadline) throw new Error(`still answering ${JSON.stringify(out.greeting)}, not ${JSON.stringify(greeting)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function setGreeting(source: string, prefix: string): void {
  const text = readFileSync(source, 'utf8').replace(/out\.greeting = "[^"]*" \+ input\.name/, `out.greeting = "${prefix}" + input.name`);
  writeFileSync(source, text);
}

function ascProcess(projectDir: string): Promise<void> {
  const args = [
    join(ascModule(), '..', '..', 'bin', 'asc.js'), 'src/index.ts', '-O3', '--runtime', 'incremental', '--transform', jsonAsTransform(),
    '--use', 'abort=~lib/spacedrive-sdk/assembly/abort/sdkAbort', '--disableWarning', '--path', asPackagesDir(projectDir), '--outFile', 'build/baseline.wasm',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: projectDir, env: { ...process.env, JSON_MODE: 'NAIVE' }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`asc exited with ${code}`))));
  });
}

export async function run(): Promise<BenchSection> {
  const root = mkdtempSync(join(tmpdir(), 'sd-bench-authoring-'));
  const project = join(root, ID);
  newProject({ id: ID, dir: project });
  const core = await Core.create(loadOptions({ overrides: { dataDir: join(root, 'data'), extensions: { autoload: false } } as PartialOptions, env: {} }), { logger: silentLogger() });
  try {
    const first = await buildProject(project, { optimize: 'dev', listRegistrations: false });
    await core.extensions.install(first.packageDir, { enabled: true });
    const source = join(project, 'src', 'index.ts');

    // Baseline: a fresh release compiler process, then the reload.
    const baseLat = new Float64Array(1);
    const b0 = performance.now();
    setGreeting(source, 'Baseline, ');
    await ascProcess(project);
    const baseline = await buildProject(project, { optimize: 'release', listRegistrations: false });
    await core.extensions.reload(ID, { from: baseline.packageDir });
    await answers(core, 'Baseline, Ada!');
    baseLat[0] = (performance.now() - b0) * 1000;

    // The dev loop: save, and wait until the new greeting answers.
    const cycles: number[] = [];
    const session = new DevSession({
      dir: project,
      deploy: async (build) => {
        await core.extensions.reload(ID, { from: build.packageDir });
      },
      onCycle: (c) => {
        if (!c.ok) throw c.error;
        cycles.push(c.editToReadyMs);
      },
    });
    await session.start();
    const lat = new Float64Array(EDITS);
    const started = performance.now();
    for (let i = 0; i < EDITS; i++) {
      const prefix = `Edit ${i}, `;
      const t0 = performance.now();
      setGreeting(source, prefix);
      await answers(core, `${prefix}Ada!`);
      lat[i] = (performance.now() - t0) * 1000;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    await session.close();

    const dev = summarise('extension dev: edit → new greeting answers', lat, seconds, `${EDITS} edits; dev build (asc -O0, in-process, warm) + extensions.reload --from`);
    const base = summarise('baseline: asc -O3 in a new process + reload', baseLat, baseLat[0]! / 1e6, 'one edit: the loop by hand before extension dev (without typing commands)');
    return {
      title: 'Extension authoring (generated AssemblyScript project)',
      rows: [dev, base],
      checks: [
        check('edit → reloaded p50 (ms)', dev.p50Us / 1000, '<=', 3000),
        check('edit → reloaded p50 / baseline', dev.p50Us / base.p50Us, '<=', 1),
      ],
    };
  } finally {
    await core.close();
    rmSync(root, { recursive: true, force: true });
  }
}
