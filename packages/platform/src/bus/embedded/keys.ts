import { createHash } from 'node:crypto';

/**
 * A 64-bit advisory lock key (as a decimal string for `$1::bigint`). Single-key advisory locks
 * live apart from the two-key ones the db bootstrap takes, and 64 bits make a collision between
 * two groups' partitions (which would stall one of them) practically impossible.
 */
export function advisoryKey(...parts: Array<string | number>): string {
  const digest = createHash('sha256')
    .update(['cmis-bus', ...parts.map(String)].join('\0'))
    .digest();
  return digest.readBigInt64BE(0).toString();
}

export const schemaLockKey = (schema: string) => advisoryKey(schema, 'schema');
export const sweepLockKey = (schema: string) => advisoryKey(schema, 'retention');
export const memberLockKey = (schema: string, groupId: string, memberId: string) =>
  advisoryKey(schema, 'member', groupId, memberId);
export const partitionLockKey = (schema: string, groupId: string, topic: string, partition: number) =>
  advisoryKey(schema, 'partition', groupId, topic, partition);
