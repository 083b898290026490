#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/cli (built by `npm run build`).
import { main } from '../dist/cli/index.js';

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err); process.exitCode = 70; },
);
