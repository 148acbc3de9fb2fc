// `cmis dead-letters list|replay`: what the consumers of a topic could not take, and putting it
// back on the topic after a fix.
//
// How a replay is remembered: after re-publishing a dead letter, the command appends a replay
// marker to the dead-letter topic (same key, so same partition; header cmis-dlq-replay-of names
// the dead letter). Listing and replaying skip the dead letters that have a marker. A marker per
// record, rather than one consumer-group offset on the dead-letter topic, is what lets a replay
// be narrowed to one org or to chosen ids and still not re-publish the rest later, nor what it
// did publish. Should the marker be lost (the command dies between the two writes), a second
// replay re-publishes the record unchanged: same event id, which every consumer's inbox has
// recorded, so the effect still happens once.
import { createCodec, DecodeError, eventTopicByName, type Codec } from '@cmis/contracts';
import { createKafkaBus, DEAD_LETTER_HEADERS } from '@cmis/platform';
import { formatTable, InfraError, kafkaBrokers, kafkaClient, UsageError } from './cli-support';
import { readTopic, type TopicRecord } from './topic-reader';

export const REPLAY_OF_HEADER = 'cmis-dlq-replay-of';
/** On a re-published record: the dead letter it came from (`<dlq topic>:<partition>:<offset>`). */
export const REPLAYED_FROM_HEADER = 'cmis-dlq-replayed-from';

export interface DeadLetter {
  /** `<partition>:<offset>` on the dead-letter topic. */
  id: string;
  deadLetterTopic: string;
  originalTopic: string;
  originalPartition: number | null;
  originalOffset: string | null;
  consumerGroup: string | null;
  reason: string;
  /** When it was dead-lettered (ISO 8601). */
  at: string;
  orgId: string | null;
  eventType: string | null;
  eventId: string | null;
  /** When it was replayed, if it was. */
  replayedAt: string | null;
  record: TopicRecord;
}

/** `cmis.x.v1` or `cmis.x.v1.dlq` of the catalog: the event topic and its dead-letter topic. */
export function deadLetterTopicOf(topic: string): { topic: string; deadLetterTopic: string } {
  const name = topic.endsWith('.dlq') ? topic.slice(0, -'.dlq'.length) : topic;
  const definition = eventTopicByName(name);
  if (!definition) throw new UsageError(`unknown topic: ${topic} (not in the catalog)`);
  return { topic: definition.name, deadLetterTopic: definition.deadLetterTopic };
}

/** The envelope's attributes as far as they can be read (the record failed its contract). */
function peekEnvelope(value: Buffer | null): { id?: string; type?: string; orgId?: string } {
  if (!value || value.length === 0) return {};
  // Confluent wire format: magic byte 0 and a 4-byte schema id before the JSON.
  const body = value[0] === 0 && value.length > 5 ? value.subarray(5) : value;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return { id: text(parsed.id), type: text(parsed.type), orgId: text(parsed.orgId) };
  } catch {
    return {};
  }
}

export async function listDeadLetters(
  env: NodeJS.ProcessEnv,
  options: { topic: string; limit?: number; orgId?: string; includeReplayed?: boolean },
): Promise<DeadLetter[]> {
  const { topic, deadLetterTopic } = deadLetterTopicOf(options.topic);
  const records = await readTopic(kafkaClient(env, 'cmis dead-letters'), deadLetterTopic);
  const replayed = new Map<string, string>();
  for (const r of records) {
    const of = r.headers[REPLAY_OF_HEADER];
    if (of) replayed.set(of, new Date(Number(r.timestamp)).toISOString());
  }
  const letters = records
    .filter((r) => !r.headers[REPLAY_OF_HEADER])
    .map((r): DeadLetter => {
      const envelope = peekEnvelope(r.value);
      const id = `${r.partition}:${r.offset}`;
      const partition = r.headers[DEAD_LETTER_HEADERS.partition];
      return {
        id,
        deadLetterTopic,
        originalTopic: r.headers[DEAD_LETTER_HEADERS.topic] ?? topic,
        originalPartition: partition === undefined ? null : Number(partition),
        originalOffset: r.headers[DEAD_LETTER_HEADERS.offset] ?? null,
        consumerGroup: r.headers[DEAD_LETTER_HEADERS.group] ?? null,
        reason: r.headers[DEAD_LETTER_HEADERS.reason] ?? '',
        at: new Date(Number(r.timestamp)).toISOString(),
        // Keys lead with the org id; the envelope says it too when it can be read.
        orgId: envelope.orgId ?? r.key?.split(':')[0] ?? null,
        eventType: envelope.type ?? null,
        eventId: envelope.id ?? null,
        replayedAt: replayed.get(id) ?? null,
        record: r,
      };
    })
    .filter((l) => !options.orgId || l.orgId === options.orgId)
    .filter((l) => options.includeReplayed !== false || l.replayedAt === null);
  return options.limit ? letters.slice(0, options.limit) : letters;
}

export interface ReplayReport {
  topic: string;
  /** Re-published (or, with dryRun, would be). */
  published: Array<{ id: string; eventId: string; eventType: string; orgId: string }>;
  /** Still fail the topic's contract: reported, not published. */
  failing: Array<{ id: string; reason: string }>;
  /** Named with --id but replayed before: not published again. */
  alreadyReplayed: Array<{ id: string; replayedAt: string }>;
  dryRun: boolean;
}

export async function replayDeadLetters(
  env: NodeJS.ProcessEnv,
  options: { topic: string; ids?: string[]; all?: boolean; orgId?: string; dryRun?: boolean; codec?: Codec },
): Promise<ReplayReport> {
  if (!options.all === !(options.ids && options.ids.length > 0))
    throw new UsageError('replay needs either --id <deadLetterId>... or --all');
  const letters = await listDeadLetters(env, {
    topic: options.topic,
    orgId: options.orgId,
    includeReplayed: true,
  });
  let chosen: DeadLetter[];
  const report: ReplayReport = {
    topic: deadLetterTopicOf(options.topic).topic,
    published: [],
    failing: [],
    alreadyReplayed: [],
    dryRun: options.dryRun ?? false,
  };
  if (options.all) {
    chosen = letters.filter((l) => l.replayedAt === null);
  } else {
    const byId = new Map(letters.map((l) => [l.id, l]));
    const unknown = options.ids!.filter((id) => !byId.has(id));
    if (unknown.length > 0) throw new UsageError(`no dead letter ${unknown.join(', ')} on ${options.topic}`);
    chosen = options.ids!.map((id) => byId.get(id)!);
    for (const l of chosen.filter((c) => c.replayedAt !== null))
      report.alreadyReplayed.push({ id: l.id, replayedAt: l.replayedAt! });
    chosen = chosen.filter((c) => c.replayedAt === null);
  }

  const codec = options.codec ?? createCodec({ registryUrl: env.SCHEMA_REGISTRY_URL });
  const publishable: Array<{ letter: DeadLetter; eventId: string }> = [];
  for (const letter of chosen) {
    const { record } = letter;
    try {
      const envelope = await codec.decode(letter.originalTopic, {
        value: record.value,
        headers: record.headers,
      });
      publishable.push({ letter, eventId: envelope.id });
      report.published.push({
        id: letter.id,
        eventId: envelope.id,
        eventType: envelope.type,
        orgId: envelope.orgId,
      });
    } catch (error) {
      if (!(error instanceof DecodeError))
        throw new InfraError(`cannot check ${letter.id}: ${(error as Error).message}`);
      report.failing.push({ id: letter.id, reason: error.message });
    }
  }
  if (report.dryRun || publishable.length === 0) return report;

  const bus = createKafkaBus({ brokers: kafkaBrokers(env, 'cmis dead-letters'), clientId: 'cmis-cli' });
  try {
    for (const { letter } of publishable) {
      const { record } = letter;
      const headers = { ...record.headers };
      for (const name of Object.values(DEAD_LETTER_HEADERS)) delete headers[name];
      headers[REPLAYED_FROM_HEADER] = `${letter.deadLetterTopic}:${letter.id}`;
      // The value goes back byte for byte: the event keeps its id, so an inbox that took it
      // before (a replay repeated) recognises it.
      await bus.publish(letter.originalTopic, [
        { key: record.key ?? '', value: record.value ?? Buffer.alloc(0), headers },
      ]);
      await bus.publish(letter.deadLetterTopic, [
        {
          key: record.key ?? '',
          value: Buffer.from(JSON.stringify({ replayOf: letter.id, to: letter.originalTopic })),
          headers: { [REPLAY_OF_HEADER]: letter.id },
        },
      ]);
    }
  } catch (error) {
    throw new InfraError(`replay stopped: ${(error as Error).message}`);
  } finally {
    await bus.close();
  }
  return report;
}

export function formatDeadLetters(letters: readonly DeadLetter[]): string {
  if (letters.length === 0) return 'no dead letters\n';
  return formatTable(
    ['ID', 'AT', 'ORG', 'EVENT TYPE', 'ORIGINAL', 'GROUP', 'REPLAYED', 'ERROR'],
    letters.map((l) => [
      l.id,
      l.at,
      l.orgId ?? '-',
      l.eventType ?? '-',
      `${l.originalTopic}[${l.originalPartition ?? '?'}]@${l.originalOffset ?? '?'}`,
      l.consumerGroup ?? '-',
      l.replayedAt ?? '-',
      l.reason.replace(/\s+/g, ' ').slice(0, 200),
    ]),
  );
}

export function toJson(letter: DeadLetter): Record<string, unknown> {
  const { record: _record, ...rest } = letter;
  return rest;
}

export function formatReplay(report: ReplayReport): string {
  const verb = report.dryRun ? 'would re-publish' : 're-published';
  const lines = [
    `${verb} ${report.published.length} to ${report.topic}${report.published.length ? ':' : ''}`,
    ...report.published.map((p) => `  ${p.id}  ${p.eventType}  event ${p.eventId}  org ${p.orgId}`),
  ];
  if (report.failing.length > 0)
    lines.push(
      `still failing the contract, not published (${report.failing.length}):`,
      ...report.failing.map((f) => `  ${f.id}  ${f.reason.replace(/\s+/g, ' ').slice(0, 300)}`),
    );
  if (report.alreadyReplayed.length > 0)
    lines.push(
      `replayed before, not published again (${report.alreadyReplayed.length}):`,
      ...report.alreadyReplayed.map((a) => `  ${a.id}  at ${a.replayedAt}`),
    );
  return `${lines.join('\n')}\n`;
}
