import {
  createCodec,
  DecodeError,
  EncodeError,
  UnknownTopicError,
  wireFrame,
  type DecodeErrorReason,
} from './codec';
import { eventTopicByName } from './catalog';
import { allExampleEnvelopes, exampleEnvelope } from './spec-support/examples';

const topic = 'cmis.triggers.user-actions.v1';
const codec = createCodec();

async function decodeFailure(value: Buffer | null, decoder = codec): Promise<DecodeError> {
  const failure: unknown = await decoder.decode(topic, { value }).then(
    () => new Error('decoded a bad message'),
    (error: unknown) => error,
  );
  if (failure instanceof DecodeError) return failure;
  throw failure;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('JSON codec', () => {
  it.each(allExampleEnvelopes().map((e) => [e.type, e] as const))('round-trips %s', async (_, example) => {
    const encoded = await codec.encode(example.topic, example.envelope);
    expect(encoded.headers).toEqual({
      'content-type': 'application/cloudevents+json',
      'cmis-schema-version': String(eventTopicByName(example.topic)!.schemaVersion),
    });
    expect(JSON.parse(encoded.value.toString('utf8'))).toEqual(example.envelope);
    await expect(
      codec.decode(example.topic, { value: encoded.value, headers: encoded.headers }),
    ).resolves.toEqual(example.envelope);
  });

  it('decodes typed by topic', async () => {
    const envelope = exampleEnvelope(topic, 'cmis.triggers.action-tracked');
    const decoded = await codec.decode(topic, await codec.encode(topic, envelope));
    if (decoded.type === 'cmis.triggers.action-tracked') expect(decoded.data.event).toBe('Order Completed');
    else throw new Error(`unexpected ${decoded.type}`);
  });

  it('drops attributes the schema does not know, on both sides', async () => {
    const envelope = { ...exampleEnvelope(topic, 'cmis.triggers.page-viewed'), extra: 1 };
    const encoded = await codec.encode(topic, envelope);
    expect(JSON.parse(encoded.value.toString('utf8'))).not.toHaveProperty('extra');
    await expect(codec.decode(topic, { value: json(envelope) })).resolves.not.toHaveProperty('extra');
  });
});

describe('decoding bad messages', () => {
  const valid = exampleEnvelope(topic, 'cmis.triggers.action-tracked');

  it.each<[string, Buffer | null, DecodeErrorReason]>([
    ['no value (tombstone)', null, 'empty-value'],
    ['an empty value', Buffer.alloc(0), 'empty-value'],
    ['text that is not JSON', Buffer.from('{"id": '), 'not-json'],
    ['bytes that are not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'not-json'],
    [
      'a registry-framed message',
      Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), json(valid)]),
      'wrong-magic-byte',
    ],
    [
      'an event type of another topic',
      json({ ...valid, type: 'cmis.rules.rule-fired' }),
      'unknown-event-type',
    ],
    [
      'a payload that breaks the schema',
      json({ ...valid, data: { ...valid.data, event: 42 } }),
      'schema-validation',
    ],
    ['an envelope that breaks the schema', json({ ...valid, orgId: 'acme' }), 'schema-validation'],
    ['JSON that is not an envelope', json([1, 2]), 'schema-validation'],
  ])('refuses %s', async (_, value, reason) => {
    const error = await decodeFailure(value);
    expect(error.reason).toBe(reason);
    expect(error.topic).toBe(topic);
    expect(error.message).toContain(reason);
  });

  it('names the paths that failed validation', async () => {
    const broken = { ...valid, time: 'soon', data: { ...valid.data, messageId: '', properties: 'none' } };
    const error = await decodeFailure(json(broken));
    expect(error.paths.sort()).toEqual(['data.messageId', 'data.properties', 'time']);
  });

  it('points at type for an unknown event type', async () => {
    const error = await decodeFailure(json({ ...valid, type: 'cmis.triggers.nothing' }));
    expect(error.paths).toEqual(['type']);
  });

  it('refuses an unframed message when a registry is configured, before asking the registry', async () => {
    // Nothing listens on port 9: reaching the registry would fail differently.
    const registryCodec = createCodec({ registryUrl: 'http://127.0.0.1:9' });
    expect((await decodeFailure(json(valid), registryCodec)).reason).toBe('wrong-magic-byte');
    expect((await decodeFailure(Buffer.from([0, 0, 0]), registryCodec)).reason).toBe('wrong-magic-byte');
  });
});

describe('encoding', () => {
  it('refuses an envelope that breaks the schema', async () => {
    const envelope = exampleEnvelope('cmis.platform.tenancy.v1', 'cmis.tenancy.org-created');
    const broken = { ...envelope, data: { orgId: envelope.orgId } };
    await expect(codec.encode('cmis.platform.tenancy.v1', broken as never)).rejects.toMatchObject({
      name: 'EncodeError',
      reason: 'schema-validation',
      issues: [{ path: ['data', 'name'] }],
    });
  });

  it('refuses an event type the topic does not carry', async () => {
    const envelope = exampleEnvelope('cmis.rules.rule-events.v1', 'cmis.rules.rule-fired');
    await expect(codec.encode('cmis.rules.actions.v1', envelope as never)).rejects.toBeInstanceOf(
      EncodeError,
    );
  });

  it('knows only the event topics of the catalog', async () => {
    const envelope = exampleEnvelope(topic, 'cmis.triggers.action-tracked');
    await expect(codec.encode(`${topic}.dlq`, envelope)).rejects.toBeInstanceOf(UnknownTopicError);
    await expect(codec.decode('cmis.nope.nope.v1', { value: json(envelope) })).rejects.toBeInstanceOf(
      UnknownTopicError,
    );
  });
});

describe('encoding an envelope the caller already validated ({ validated: true })', () => {
  it('writes the same bytes as a validating encode for a schema-exact envelope', async () => {
    for (const example of allExampleEnvelopes()) {
      const checked = await codec.encode(example.topic, example.envelope);
      const trusted = await codec.encode(example.topic, example.envelope, { validated: true });
      expect(trusted.headers).toEqual(checked.headers);
      expect(trusted.value.equals(checked.value)).toBe(true);
    }
  });

  it('skips the schema: the envelope is serialized as given (callers vouch for it)', async () => {
    const envelope = { ...exampleEnvelope(topic, 'cmis.triggers.page-viewed'), extra: 1 };
    const encoded = await codec.encode(topic, envelope, { validated: true });
    expect(JSON.parse(encoded.value.toString('utf8'))).toHaveProperty('extra', 1);
  });

  it('still refuses an event type the topic does not carry, and unknown topics', async () => {
    const envelope = exampleEnvelope('cmis.rules.rule-events.v1', 'cmis.rules.rule-fired');
    await expect(
      codec.encode('cmis.rules.actions.v1', envelope as never, { validated: true }),
    ).rejects.toMatchObject({ name: 'EncodeError', reason: 'unknown-event-type' });
    const untyped = { ...exampleEnvelope(topic, 'cmis.triggers.action-tracked'), type: undefined };
    await expect(codec.encode(topic, untyped as never, { validated: true })).rejects.toMatchObject({
      reason: 'unknown-event-type',
    });
    await expect(
      codec.encode(`${topic}.dlq`, exampleEnvelope(topic, 'cmis.triggers.action-tracked'), {
        validated: true,
      }),
    ).rejects.toBeInstanceOf(UnknownTopicError);
  });

  it('validates as before when the option is absent or false', async () => {
    const envelope = exampleEnvelope('cmis.platform.tenancy.v1', 'cmis.tenancy.org-created');
    const broken = { ...envelope, data: { orgId: envelope.orgId } };
    await expect(
      codec.encode('cmis.platform.tenancy.v1', broken as never, { validated: false }),
    ).rejects.toMatchObject({ name: 'EncodeError', reason: 'schema-validation' });
  });
});

describe('wireFrame (registry format of validated envelopes)', () => {
  it('writes magic byte 0, the schema id big-endian, then the JSON', () => {
    const envelope = exampleEnvelope(topic, 'cmis.triggers.action-tracked');
    const frame = wireFrame(258, { ...envelope, data: { ...envelope.data, note: 'é ✓' } });
    expect(frame[0]).toBe(0);
    expect(frame.readInt32BE(1)).toBe(258);
    expect(JSON.parse(frame.subarray(5).toString('utf8'))).toEqual({
      ...envelope,
      data: { ...envelope.data, note: 'é ✓' },
    });
    expect(frame.length).toBe(
      5 + Buffer.byteLength(JSON.stringify(JSON.parse(frame.subarray(5).toString()))),
    );
  });
});
