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
  // `npm install` (not `npm ci`): it installs the locked versions too, and npm 11's `npm ci` refuses a lock
  // file that, as npm itself writes it, leaves out other platforms' optional packages (@swc/core-darwin-*).
  process.stderr.write('Installing npm dependencies (npm install, locked versions)...\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
