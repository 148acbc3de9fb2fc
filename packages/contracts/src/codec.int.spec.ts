import { randomBytes } from 'node:crypto';
import { COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry';
import { allTopics, topicByName } from './catalog';
import { createCodec, DecodeError } from './codec';
import { checkBackwardCompatibility } from './compatibility';
import { topicJsonSchema } from './json-schema';
import { createRegistryClient, registerAllSchemas, registerTopicSchema } from './schema-registry';
import { exampleEnvelope } from './spec-support/examples';

function registryUrl(): string {
  const url = process.env.SCHEMA_REGISTRY_URL;
  if (!url) throw new Error('SCHEMA_REGISTRY_URL is not set: run through the testkit global setup or set it');
  return url;
}

/** Subjects no other test or earlier run uses, so the shared registry never collides. */
function freshSubjects(): (topicName: string) => string {
  const run = randomBytes(5).toString('hex');
  return (topicName) => `spec-${run}.${topicName}-value`;
}

/** A call straight to the registry's REST API, as another process or an operator makes it. */
function registryRequest(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${registryUrl()}${path}`, {
    method,
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function subjectCompatibility(subject: string): Promise<string> {
  const response = await registryRequest('GET', `/config/${encodeURIComponent(subject)}`);
  return ((await response.json()) as { compatibilityLevel: string }).compatibilityLevel;
}

const topic = 'cmis.triggers.user-actions.v1';

describe('codec with a schema registry', () => {
  it('round-trips in the Confluent wire format with the id the registry gave the subject', async () => {
    const subjectOf = freshSubjects();
    const codec = createCodec({ registryUrl: registryUrl(), subjectOf });
    const envelope = exampleEnvelope(topic, 'cmis.triggers.action-tracked');

    const encoded = await codec.encode(topic, envelope);

    expect(encoded.value[0]).toBe(0);
    const latestId = await createRegistryClient(registryUrl()).getLatestSchemaId(subjectOf(topic));
    expect(encoded.value.readInt32BE(1)).toBe(latestId);
    expect(JSON.parse(encoded.value.subarray(5).toString('utf8'))).toEqual(envelope);
    expect(encoded.headers).toEqual({ 'cmis-schema-version': '1' });
    await expect(codec.decode(topic, encoded)).resolves.toEqual(envelope);
    await expect(subjectCompatibility(subjectOf(topic))).resolves.toBe(COMPATIBILITY.BACKWARD);
  });

  it('writes every message of a topic with one schema id and reads what another codec wrote', async () => {
    const subjectOf = freshSubjects();
    const writer = createCodec({ registryUrl: registryUrl(), subjectOf });
    const reader = createCodec({ registryUrl: registryUrl(), subjectOf });
    const first = await writer.encode(
      topic,
      exampleEnvelope(topic, 'cmis.triggers.page-viewed', { id: 'e1' }),
    );
    const second = await writer.encode(
      topic,
      exampleEnvelope(topic, 'cmis.triggers.screen-viewed', { id: 'e2' }),
    );
    expect(second.value.readInt32BE(1)).toBe(first.value.readInt32BE(1));
    await expect(reader.decode(topic, second)).resolves.toMatchObject({
      id: 'e2',
      type: 'cmis.triggers.screen-viewed',
    });
  });

  it('refuses a message whose schema id the registry does not know', async () => {
    const codec = createCodec({ registryUrl: registryUrl(), subjectOf: freshSubjects() });
    const body = Buffer.from(JSON.stringify(exampleEnvelope(topic, 'cmis.triggers.action-tracked')));
    const header = Buffer.alloc(5);
    header.writeInt32BE(2_147_483_000, 1);

    const failure = await codec
      .decode(topic, { value: Buffer.concat([header, body]) })
      .catch((e: unknown) => e);

    expect(failure).toBeInstanceOf(DecodeError);
    expect(failure).toMatchObject({ reason: 'unknown-schema-id', topic });
  });

  it('refuses a framed message whose body breaks the topic schema', async () => {
    const subjectOf = freshSubjects();
    const codec = createCodec({ registryUrl: registryUrl(), subjectOf });
    const valid = await codec.encode(topic, exampleEnvelope(topic, 'cmis.triggers.action-tracked'));
    const broken = Buffer.concat([
      valid.value.subarray(0, 5),
      Buffer.from('{"type":"cmis.triggers.page-viewed"}'),
    ]);
    await expect(codec.decode(topic, { value: broken })).rejects.toMatchObject({
      reason: 'schema-validation',
    });
  });
});

describe('schema registry compatibility', () => {
  it('accepts the value schema of every catalog topic', async () => {
    const registered = await registerAllSchemas(registryUrl(), { subjectOf: freshSubjects() });
    expect(registered.map((r) => r.topic)).toEqual(allTopics().map((t) => t.name));
    expect(new Set(registered.map((r) => r.id)).size).toBe(registered.length);
  });

  it('gives six registrations of one new subject at once its one id and leaves it on BACKWARD', async () => {
    // Every process registers its topics at start; the registry takes a rule only once the
    // subject exists, so concurrent first registrations each see the others half-done (the
    // library's register failed about one call in eight of these rounds).
    const tenancy = topicByName('cmis.platform.tenancy.v1');
    for (let round = 0; round < 5; round++) {
      const subjectOf = freshSubjects();
      const ids = await Promise.all(
        Array.from({ length: 6 }, () => registerTopicSchema(registryUrl(), tenancy, subjectOf)),
      );
      expect(new Set(ids).size).toBe(1);
      await expect(subjectCompatibility(subjectOf(tenancy.name))).resolves.toBe(COMPATIBILITY.BACKWARD);
    }
  });

  it('puts a subject left without its rule (a registration killed between its calls) on BACKWARD', async () => {
    const subjectOf = freshSubjects();
    const tenancy = topicByName('cmis.platform.tenancy.v1');
    const subject = subjectOf(tenancy.name);
    const halfDone = await registryRequest('POST', `/subjects/${encodeURIComponent(subject)}/versions`, {
      schemaType: 'JSON',
      schema: JSON.stringify(topicJsonSchema(tenancy)),
    });
    const { id } = (await halfDone.json()) as { id: number };
    await expect(subjectCompatibility(subject)).resolves.toBe(COMPATIBILITY.NONE);

    await expect(registerTopicSchema(registryUrl(), tenancy, subjectOf)).resolves.toBe(id);

    await expect(subjectCompatibility(subject)).resolves.toBe(COMPATIBILITY.BACKWARD);
  });

  it('refuses to register under a level an operator chose, and leaves the level alone', async () => {
    const subjectOf = freshSubjects();
    const tenancy = topicByName('cmis.platform.tenancy.v1');
    const subject = subjectOf(tenancy.name);
    await registerTopicSchema(registryUrl(), tenancy, subjectOf);
    await registryRequest('PUT', `/config/${encodeURIComponent(subject)}`, {
      compatibility: COMPATIBILITY.FULL,
    });
    await expect(subjectCompatibility(subject)).resolves.toBe(COMPATIBILITY.FULL);

    await expect(registerTopicSchema(registryUrl(), tenancy, subjectOf)).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining('FULL'),
    });
    await expect(subjectCompatibility(subject)).resolves.toBe(COMPATIBILITY.FULL);
  });

  it('refuses a new version that makes a property required, as the offline checker does', async () => {
    const subjectOf = freshSubjects();
    const tenancy = topicByName('cmis.platform.tenancy.v1');
    const registry = createRegistryClient(registryUrl());
    await registerTopicSchema(registryUrl(), tenancy, subjectOf);
    const v1 = topicJsonSchema(tenancy);
    const v2 = structuredClone(v1) as {
      anyOf: Array<{ properties: { data: { properties: object; required: string[] } } }>;
    };
    const orgCreated = v2.anyOf[0]!.properties.data;
    orgCreated.properties = { ...orgCreated.properties, plan: { type: 'string' } };
    orgCreated.required = [...orgCreated.required, 'plan'];

    const refusal = await registry
      .register(
        { type: SchemaType.JSON, schema: JSON.stringify(v2) },
        { subject: subjectOf(tenancy.name), compatibility: COMPATIBILITY.BACKWARD },
      )
      .then(
        () => new Error('the registry accepted an incompatible schema'),
        (error: unknown) => error,
      );

    expect(refusal).toMatchObject({ status: 409, message: expect.stringMatching(/incompatible/i) });
    expect(checkBackwardCompatibility(v1, v2)).toEqual([
      expect.objectContaining({
        kind: 'property-newly-required',
        path: '/anyOf/0/properties/data/properties/plan',
      }),
    ]);
  });

  it('accepts a new version that adds an optional property, as the offline checker does', async () => {
    const subjectOf = freshSubjects();
    const tenancy = topicByName('cmis.platform.tenancy.v1');
    const registry = createRegistryClient(registryUrl());
    const v1Id = await registerTopicSchema(registryUrl(), tenancy, subjectOf);
    const v1 = topicJsonSchema(tenancy);
    const v2 = structuredClone(v1) as { anyOf: Array<{ properties: { data: { properties: object } } }> };
    const orgCreated = v2.anyOf[0]!.properties.data;
    orgCreated.properties = { ...orgCreated.properties, plan: { type: 'string' } };

    const { id } = await registry.register(
      { type: SchemaType.JSON, schema: JSON.stringify(v2) },
      { subject: subjectOf(tenancy.name), compatibility: COMPATIBILITY.BACKWARD },
    );

    expect(id).not.toBe(v1Id);
    expect(checkBackwardCompatibility(v1, v2)).toEqual([]);
  });
});
