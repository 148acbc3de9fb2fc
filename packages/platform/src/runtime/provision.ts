import { allTopics, deadLetterTopics } from '@cmis/contracts';
import type { Bus } from '../bus';

/**
 * Creates every catalog topic and dead-letter topic that is missing (idempotent). Production
 * provisions from deploy/ before the services start; this keeps a fresh cluster or the
 * embedded bus usable without that step.
 */
export async function ensureCatalogTopics(bus: Bus): Promise<void> {
  await bus.ensureTopics(
    [...allTopics(), ...deadLetterTopics()].map((t) => ({
      topic: t.name,
      numPartitions: t.partitions,
      retentionMs: t.retentionMs,
    })),
  );
}
