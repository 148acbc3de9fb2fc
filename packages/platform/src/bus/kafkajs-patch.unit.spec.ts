import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

// What patches/kafkajs@2.2.4.patch changed in kafkajs's producer encoding, against references
// that do not share its code: a broker would refuse a batch with a wrong checksum (CORRUPT_MESSAGE).
const load = createRequire(__filename);
const crc32C = load('kafkajs/src/protocol/recordBatch/crc32C/crc32C') as (buffer: Buffer) => number;
interface KafkaEncoder {
  writeInt8(value: number): KafkaEncoder;
  writeVarInt(value: number): KafkaEncoder;
  readonly buffer: Buffer;
}
const Encoder = load('kafkajs/src/protocol/encoder') as new (initialSize?: number) => KafkaEncoder;

/** CRC-32C a bit at a time from the reflected Castagnoli polynomial (RFC 3720, appendix B.4). */
function bitwiseCrc32C(buffer: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buffer) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('kafkajs as patched', () => {
  it('checksums record batches with CRC-32C (slicing-by-8): the check value and every length up to 300', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32C(Buffer.alloc(0))).toBe(0);
    for (let length = 1; length <= 300; length++) {
      const bytes = randomBytes(length);
      expect(crc32C(bytes)).toBe(bitwiseCrc32C(bytes));
    }
  });

  it('writes zigzag varints byte for byte as the Kafka protocol does', () => {
    const varint = (value: number) => new Encoder().writeVarInt(value).buffer.toString('hex');
    expect(varint(0)).toBe('00');
    expect(varint(-1)).toBe('01');
    expect(varint(1)).toBe('02');
    expect(varint(63)).toBe('7e');
    expect(varint(-64)).toBe('7f');
    expect(varint(64)).toBe('8001');
    expect(varint(300)).toBe('d804');
    expect(varint(2 ** 31 - 1)).toBe('feffffff0f');
    expect(varint(-(2 ** 31))).toBe('ffffffff0f');
  });

  it('hands out only the bytes written, though its buffers are not zeroed', () => {
    const encoder = new Encoder(4).writeInt8(7);
    // Grown from 4 bytes several times over; every byte handed out is one that was written.
    for (let i = 0; i < 100; i++) encoder.writeVarInt(1);
    expect(encoder.buffer.toString('hex')).toBe(`07${'02'.repeat(100)}`);
  });
});
