import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { allTopics } from './catalog';
import { topicJsonSchema } from './json-schema';
import type { TopicDefinition } from './topic';

/** Subject of a topic's value schema; the default is Confluent's TopicNameStrategy. */
export type SubjectNaming = (topicName: string) => string;
export const topicValueSubject: SubjectNaming = (topicName) => `${topicName}-value`;

export function createRegistryClient(registryUrl: string): SchemaRegistry {
  // The library compiles JSON schemas with ajv 7, which knows no formats and refuses
  // date-time/uuid/uri; zod checks those on both sides, so ajv only checks structure.
  return new SchemaRegistry({ host: registryUrl }, { [SchemaType.JSON]: { validateFormats: false } });
}

/** A refusal or failure the registry answered with; status is its HTTP status. */
export class SchemaRegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'SchemaRegistryError';
  }
}

const REGISTRY_MEDIA_TYPE = 'application/vnd.schemaregistry.v1+json';

interface RegistryAnswer<T> {
  status: number;
  body: Partial<T> & { message?: string };
}

async function registryCall<T>(url: string, init?: RequestInit): Promise<RegistryAnswer<T>> {
  const response = await fetch(url, {
    ...init,
    headers: { accept: REGISTRY_MEDIA_TYPE, 'content-type': REGISTRY_MEDIA_TYPE },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  try {
    return {
      status: response.status,
      body: text === '' ? {} : (JSON.parse(text) as RegistryAnswer<T>['body']),
    };
  } catch {
    // A proxy's HTML error page, say: its text is the clearest message there is.
    return { status: response.status, body: { message: text.slice(0, 200) } as RegistryAnswer<T>['body'] };
  }
}

function refusal(subject: string, answer: RegistryAnswer<unknown>): SchemaRegistryError {
  return new SchemaRegistryError(
    `subject ${subject}: ${answer.body.message ?? `registry answered ${answer.status}`}`,
    answer.status,
  );
}

/**
 * Leaves the subject on BACKWARD compatibility. The registry only takes a subject's rule once the
 * subject exists, so a first registration is two calls; every process registers its topics at
 * start, and two doing it at once (or one killed between the calls) find the subject with no rule
 * (Apicurio reports NONE) or the rule already created by the other. Both end on BACKWARD here:
 * NONE is set, a conflicting create is read back. Another level set by an operator is refused,
 * not overwritten.
 */
async function ensureBackward(subjectUrl: string, subject: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const config = await registryCall<{ compatibilityLevel: string }>(subjectUrl);
    const level = config.body.compatibilityLevel?.toUpperCase();
    if (config.status === 200 && level === COMPATIBILITY.BACKWARD) return;
    if (config.status === 200 && level !== COMPATIBILITY.NONE)
      throw new SchemaRegistryError(
        `subject ${subject} is on ${level} compatibility; CMIS keeps BACKWARD`,
        409,
      );
    if (config.status !== 200 && config.status !== 404) throw refusal(subject, config);
    const set = await registryCall(subjectUrl, {
      method: 'PUT',
      body: JSON.stringify({ compatibility: COMPATIBILITY.BACKWARD }),
    });
    if (set.status === 200) return;
    // 409: another process created the rule between our read and our write; read it back.
    if (set.status !== 409 || attempt >= 3) throw refusal(subject, set);
  }
}

/**
 * Registers the topic's value schema (idempotent: the same schema keeps its id) and leaves the
 * subject on BACKWARD compatibility; the registry refuses (409) a version that breaks it. Safe to
 * run from many processes at once.
 */
export async function registerTopicSchema(
  registryUrl: string,
  topic: TopicDefinition,
  subjectOf: SubjectNaming = topicValueSubject,
): Promise<number> {
  const subject = subjectOf(topic.name);
  const base = registryUrl.replace(/\/+$/, '');
  const registered = await registryCall<{ id: number }>(
    `${base}/subjects/${encodeURIComponent(subject)}/versions`,
    {
      method: 'POST',
      body: JSON.stringify({ schemaType: SchemaType.JSON, schema: JSON.stringify(topicJsonSchema(topic)) }),
    },
  );
  if (registered.status !== 200 || typeof registered.body.id !== 'number') throw refusal(subject, registered);
  await ensureBackward(`${base}/config/${encodeURIComponent(subject)}`, subject);
  return registered.body.id;
}

export interface RegisteredTopicSchema {
  topic: string;
  subject: string;
  id: number;
}

/** Provisioning: registers every catalog topic's value schema. */
export async function registerAllSchemas(
  registryUrl: string,
  options: { topics?: readonly TopicDefinition[]; subjectOf?: SubjectNaming } = {},
): Promise<RegisteredTopicSchema[]> {
  const { topics = allTopics(), subjectOf = topicValueSubject } = options;
  const registered: RegisteredTopicSchema[] = [];
  for (const topic of topics) {
    const id = await registerTopicSchema(registryUrl, topic, subjectOf);
    registered.push({ topic: topic.name, subject: subjectOf(topic.name), id });
  }
  return registered;
}
