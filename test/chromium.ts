/**
 * Debian's Chromium for the browser tests, driven by playwright-core (no browser download). The flags keep it
 * off the network this machine does not have; without Chromium the browser tests skip with this reason.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where browser tests leave their screenshots. */
export const ARTIFACTS = join(__dirname, 'artifacts');

/** `false` when Chromium is installed, else the reason to skip (for `describe(…, { skip })`). */
export const skipWithoutChromium: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it) to run the browser test`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}
