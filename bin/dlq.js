#!/usr/bin/env node
'use strict';
// Runs the built CLI; in a checkout without `npm run build`, runs the TypeScript source through tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const built = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
let cli;
if (existsSync(built)) {
  cli = require(built);
} else {
  require('tsx/cjs');
  cli = require(join(__dirname, '..', 'src', 'cli', 'main.ts'));
}
cli.runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
