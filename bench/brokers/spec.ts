/**
 * A source described as JSON, so that the bench process (as `dlq bridge` does) and a worker child (as
 * `createWorker({ sources })` does) open the same source.
 */
import { natsSource, stripSubjectPrefix } from '../../src/connectors/nats';
import { outboxSource } from '../../src/connectors/outbox';
import { rabbitmqSource } from '../../src/connectors/rabbitmq';
import type { Source } from '../../src/connectors/source';

export type SourceSpec =
  | { kind: 'nats'; url: string; stream: string; subjectPrefix: string; durable: string; pullBatch: number }
  | { kind: 'rabbitmq'; url: string; queue: string; prefetch: number }
  | { kind: 'outbox'; connectionString: string; table: string };

export function openSource(spec: SourceSpec): Promise<Source> {
  switch (spec.kind) {
    case 'nats':
      return natsSource({
        servers: [spec.url],
        stream: spec.stream,
        subject: `${spec.subjectPrefix}.>`,
        durable: spec.durable,
        pullBatch: spec.pullBatch,
        topicFromSubject: stripSubjectPrefix(spec.subjectPrefix),
      });
    case 'rabbitmq':
      return rabbitmqSource({ url: spec.url, queue: spec.queue, prefetch: spec.prefetch });
    case 'outbox':
      return Promise.resolve(outboxSource({ connectionString: spec.connectionString, table: spec.table }));
  }
}
