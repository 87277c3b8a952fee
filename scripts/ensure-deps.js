#!/usr/bin/env node
// Installs the npm dependencies when they are missing or older than package-lock.json.
// Plain JavaScript with no dependencies: it runs before anything is installed.
'use strict';
const { existsSync, statSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
const stale =
  !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
if (stale) {
  // `npm ci`: exactly the locked versions, and it never writes package-lock.json, so `npm start` and `npm test`
  // leave a clone as they found it. The lock holds every platform's optional packages (esbuild, @swc/core),
  // which npm 11's `npm ci` requires.
  process.stderr.write('Installing npm dependencies (npm ci, the locked versions)...\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (result.status !== 0) {
    process.stderr.write(
      'npm ci failed. If package.json changed, `npm install` updates package-lock.json to match; commit both.\n',
    );
    process.exit(result.status ?? 1);
  }
}
