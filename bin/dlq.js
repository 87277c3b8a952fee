#!/usr/bin/env node
'use strict';
// In a checkout (src/ present) the CLI runs from the TypeScript source through tsx, so it is never a stale
// build; an installed package has only dist/ and runs the build.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const source = join(__dirname, '..', 'src', 'cli', 'main.ts');
let cli;
if (existsSync(source) && existsSync(join(__dirname, '..', 'node_modules', 'tsx'))) {
  require('tsx/cjs');
  cli = require(source);
} else {
  cli = require(join(__dirname, '..', 'dist', 'src', 'cli', 'main.js'));
}
cli.runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
