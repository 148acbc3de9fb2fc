/**
 * Kafka's default partitioner (murmur2 of the key, made positive, modulo the partition count),
 * bit for bit the same as the Java client's and kafkajs's DefaultPartitioner: a key lands on the
 * same partition number on either transport.
 */
export function partitionForKey(key: string, numPartitions: number): number {
  return (murmur2(Buffer.from(key)) & 0x7fffffff) % numPartitions;
}

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** murmur2 in 32-bit integer arithmetic, as org.apache.kafka.common.utils.Utils#murmur2. */
export function murmur2(data: Buffer): number {
  const length = data.length;
  let h = SEED ^ length;
  const whole = length - (length % 4);
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = length % 4;
  if (tail === 3) h ^= data[whole + 2]! << 16;
  if (tail >= 2) h ^= data[whole + 1]! << 8;
  if (tail >= 1) h = Math.imul(h ^ data[whole]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}
