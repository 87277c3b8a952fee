/**
 * The failure converter used when payload encryption is on: it moves each failure's message and stack trace
 * into `encodedAttributes`, a payload, so the codec encrypts them too (the server stores "Encoded failure").
 * Loaded by path (`DataConverter.failureConverterPath`) in the client and on the worker's activity side.
 * Decoding needs nothing special: every failure converter reads `encodedAttributes` back.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
