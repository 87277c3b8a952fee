/**
 * package-lock.json is complete for every platform and agrees with package.json, so `npm ci` (what
 * scripts/ensure-deps.js runs before `npm start` and `npm test`) works on any machine and no install adds lines
 * to a tracked file. npm 11's `npm ci` refuses a lock without other platforms' optional packages.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
};
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as LockEntry;

/** Where node would find `name` from the package at `path`: its own node_modules, then each parent's. */
function resolvesTo(path: string, name: string): string | undefined {
  const parts = path === '' ? [] : path.split('/node_modules/');
  for (let i = parts.length; i >= 0; i--) {
    const base = parts.slice(0, i).join('/node_modules/');
    const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
  }
  return undefined;
}

describe('package-lock.json', () => {
  it('has an entry for every optional dependency, whatever its platform', () => {
    assert.equal(lock.lockfileVersion, 3);
    const missing = Object.entries(lock.packages).flatMap(([path, entry]) =>
      Object.keys(entry.optionalDependencies ?? {})
        .filter((name) => !resolvesTo(path, name))
        .map((name) => `${path || '(root)'} -> ${name}`),
    );
    assert.deepEqual(missing, []);
  });

  it('agrees with package.json (dependencies, devDependencies, peerDependencies)', () => {
    const rootEntry = lock.packages[''];
    assert.ok(rootEntry);
    for (const kind of ['dependencies', 'devDependencies', 'peerDependencies'] as const)
      assert.deepEqual(rootEntry[kind] ?? {}, manifest[kind] ?? {}, kind);
  });
});
