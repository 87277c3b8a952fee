/**
 * Where a message came from, read back from the envelope's `source` that a broker source wrote
 * (src/connectors/nats.ts: `nats:<stream>/<seq> <subject>`). Pure.
 */
export interface MessageOrigin {
  subject: string;
  stream?: string;
  streamSeq?: number;
}

const NATS_ORIGIN = /^nats:([^/\s]+)\/(\d+) (\S+)$/;

/**
 * A subject a message may be published on: dot-separated tokens, none empty, no wildcard (`*`, `>`), and no
 * longer than the broker source writes whole (`source` is cut to 200 characters, so a longer one may be cut).
 */
const PUBLISHABLE_SUBJECT = /^[^.*>\s]+(\.[^.*>\s]+)*$/;
const MAX_SUBJECT_LENGTH = 150;

/**
 * The NATS origin of a message, or the topic as its subject when it did not come from NATS. `source` is the
 * producer's to set, so a subject that could not be published on (a wildcard, an empty token, one that may
 * have been cut) is not trusted: the topic is used instead.
 */
export function messageOrigin(source: string | undefined, topic: string): MessageOrigin {
  const match = source ? NATS_ORIGIN.exec(source) : null;
  if (!match || match[3]!.length > MAX_SUBJECT_LENGTH || !PUBLISHABLE_SUBJECT.test(match[3]!))
    return { subject: topic };
  return { subject: match[3]!, stream: match[1]!, streamSeq: Number(match[2]) };
}
