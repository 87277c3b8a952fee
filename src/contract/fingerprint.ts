/**
 * Failure fingerprints: identical failures group together even when their messages differ in ids,
 * numbers or quoted values. Pure and workflow-safe (FNV-1a, no crypto module needed).
 */
import type { ErrorClass } from './errors';

/** Strips what varies between occurrences of the same failure: uuids, hex ids, numbers, quoted values. */
export function normaliseErrorMessage(message: string): string {
  return message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '<q>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<n>')
    .replace(/\b[0-9a-f]{16,}\b/gi, '<hex>')
    .replace(/\d+(\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 500);
}

function fnv1a(input: string, seed: number): number {
  let hash = seed >>> 0;
  for (let i = 0; i < input.length; i++) {
    hash ^= input.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** What identifies a failure group. */
export interface FingerprintInput {
  topic: string;
  errorClass: ErrorClass;
  reason: string;
  stage: string;
  message: string;
}

/** A 16-hex-character fingerprint of topic, class, reason, stage and the normalised message. */
export function failureFingerprint(input: FingerprintInput): string {
  const key = [
    input.topic,
    input.errorClass,
    input.reason,
    input.stage,
    normaliseErrorMessage(input.message),
  ].join('\u0000');
  const a = fnv1a(key, 0x811c9dc5).toString(16).padStart(8, '0');
  const b = fnv1a(key, 0x050c5d1f).toString(16).padStart(8, '0');
  return a + b;
}
