/**
 * `npm run bench`: runs every benchmark section, prints a table per section with its ratio
 * checks, and writes all figures to bench-results.json (git-ignored).
 *
 * Sections live beside this file, one per capability; each exports `run(): Promise<BenchSection>`.
 * Run one section with `npm run bench -- <name>`.
 */
import { writeFileSync } from 'node:fs';
import { formatSection, type BenchSection } from './harness.js';

type SectionModule = { run: () => Promise<BenchSection> };

/** name -> module path, in the order they run. */
const SECTIONS: Record<string, string> = {
  core: './core.bench.js',
  http: './http.bench.js',
  ai: './ai.bench.js',
  extensions: './extensions.bench.js',
  library: './library.bench.js',
  jobs: './jobs.bench.js',
  cluster: './cluster.bench.js',
  capabilities: './capabilities.bench.js',
  mail: './mail.bench.js',
  finance: './finance.bench.js',
  stall: './stall.bench.js',
  dashboard: './dashboard.bench.js',
  storage: './storage.bench.js',
  authoring: './authoring.bench.js',
};

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const results: BenchSection[] = [];
  for (const [name, path] of Object.entries(SECTIONS)) {
    if (only.length > 0 && !only.includes(name)) continue;
    const mod = (await import(path)) as SectionModule;
    process.stderr.write(`running ${name}…\n`);
    const section = await mod.run();
    results.push(section);
    console.log(formatSection(section));
  }
  writeFileSync('bench-results.json', JSON.stringify({ date: new Date().toISOString(), node: process.version, sections: results }, null, 2));
  console.log('\nwrote bench-results.json');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
