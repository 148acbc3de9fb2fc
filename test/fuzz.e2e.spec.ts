// Fuzz run (issue 18, "Trusting it"): every service in its own process, 10,000+ generated requests
// spread over every operation of every service's OpenAPI document, the admin routes, the
// Segment-compatible ingest routes (write-key Basic auth) and email's public tracking and
// unsubscribe routes. Valid requests from the schemas (so the handlers run, not only the edge)
// and broken ones. Afterwards: no 5xx, every 4xx is RFC 9457 problem+json whose status is the
// HTTP status, and every process is still alive. FUZZ_SEED=<n> replays a run's requests.
import { mkdtempSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CMIS_SERVICES,
  createScratchDatabase,
  startKafka,
  startServiceStack,
  testEnv,
  type CmisServiceName,
  type RunningKafka,
  type ScratchDatabase,
  type ServiceStack,
} from '@cmis/testkit';
import { seededRng } from './support/seeded-rng';
import {
  adminOperations,
  buildRequest,
  IdPool,
  operationsOf,
  type Credentials,
  type FuzzRequest,
  type OpenApiDocument,
  type Operation,
} from './fuzz-requests';

const ADMIN_TOKEN = 'fuzz-e2e-admin-token-0123456789abcdef';
const TOTAL = Number(process.env.FUZZ_REQUESTS ?? 10_500);
const CONCURRENCY = 8;
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
// A GET each service answers for any org: proves an API key has reached it over the tenancy topic.
const PROBE: Record<CmisServiceName, string> = {
  triggers: '/v1/sources',
  rules: '/v1/rules',
  workflows: '/v1/workflows',
  drip: '/v1/drips',
  email: '/v1/templates',
  analytics: '/v1/experiments',
};

jest.setTimeout(900_000);

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

interface Finding {
  service: string;
  operation: string;
  request: FuzzRequest;
  answer: Answer | { error: string };
  why: string;
}

// A connection per request: a kept-alive connection the server closes as idle just when the
// client reuses it would read as a reset the service did not cause.
const agent = new Agent({ keepAlive: false });

function send(baseUrl: string, request: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${baseUrl}${request.url}`,
      { method: request.method, headers: request.headers, agent, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? '',
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(request.body);
  });
}

/** Why an answer breaks the contract, or undefined when it keeps it. */
function contractBreach(answer: Answer): string | undefined {
  if (answer.status >= 500) return `${answer.status}`;
  if (answer.status < 400) return undefined;
  if (!answer.contentType.startsWith('application/problem+json'))
    return `4xx as ${answer.contentType || 'no content-type'}`;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return '4xx problem+json that is not JSON';
  }
  const p = body as { type?: unknown; title?: unknown; status?: unknown };
  if (typeof p.type !== 'string' || typeof p.title !== 'string') return '4xx problem without type/title';
  if (p.status !== answer.status) return `4xx problem with status ${String(p.status)}`;
  return undefined;
}

const show = (request: FuzzRequest) => {
  const body =
    request.body === undefined
      ? ''
      : Buffer.isBuffer(request.body)
        ? ` body=<${request.body.length} bytes>`
        : ` body=${request.body.length > 600 ? `${request.body.slice(0, 600)}…(${request.body.length})` : request.body}`;
  const { authorization: _auth, ...headers } = request.headers;
  return `${request.method} ${request.url.slice(0, 300)} [${request.mutation}] headers=${JSON.stringify(headers)}${body}`;
};

describe('fuzz: every HTTP endpoint of every service', () => {
  let kafka: RunningKafka;
  let db: ScratchDatabase;
  let stack: ServiceStack;

  beforeAll(async () => {
    const env = testEnv();
    const workDir = mkdtempSync(join(tmpdir(), 'cmis-fuzz-'));
    // A broker of this run's own: the services' consumer groups have fixed names (`rules.tenancy`),
    // so on a shared broker another stack's processes would take partitions of this one's topics
    // (and project this run's API keys into their database, not this one's).
    kafka = await startKafka(workDir);
    db = await createScratchDatabase(env.databaseUrl, 'cmis_fuzz');
    stack = await startServiceStack({
      workDir,
      kafkaBrokers: kafka.brokers,
      schemaRegistryUrl: env.schemaRegistryUrl,
      databaseUrl: db.url,
      redisUrl: env.redisUrl,
      adminToken: ADMIN_TOKEN,
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    await kafka?.stop();
  });

  it('answers 10,000+ generated requests with no 5xx and problem+json for every 4xx, and no process dies', async () => {
    console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} replays it), ${TOTAL} requests`);
    const started = Date.now();
    const org = await stack.createOrg('fuzz');
    const other = await stack.createOrg('fuzz-other');
    const readOnly = await issueKey(stack, org.orgId, [
      'rules:read',
      'workflows:read',
      'drip:read',
      'email:read',
      'analytics:read',
    ]);
    for (const name of CMIS_SERVICES) {
      for (const key of [org.apiKey, other.apiKey, readOnly])
        await untilKeyKnown(stack.service(name).url, PROBE[name], key);
    }
    const source = await post(`${stack.service('triggers').url}/v1/sources`, org.apiKey, {
      name: 'fuzz source',
    });
    const creds: Credentials = {
      orgId: org.orgId,
      apiKey: org.apiKey,
      otherOrgKey: other.apiKey,
      readOnlyKey: readOnly,
      adminToken: ADMIN_TOKEN,
      writeKeys: [source.writeKey as string],
      ownKeyIds: [org.apiKey, other.apiKey, readOnly].map((key) => /^cmis_([0-9a-f]+)_/.exec(key)![1]!),
    };

    const operations: Operation[] = [];
    for (const name of CMIS_SERVICES) {
      const res = await fetch(`${stack.service(name).url}/openapi.json`);
      expect(res.status).toBe(200);
      const ops = operationsOf(name, (await res.json()) as OpenApiDocument);
      expect(ops.length).toBeGreaterThan(0);
      operations.push(...ops, ...adminOperations(name));
    }
    const pool = new IdPool();
    pool.harvest(source);

    // Every operation gets its share; the order is shuffled by the seed.
    const schedule: Operation[] = [];
    for (let i = 0; schedule.length < TOTAL; i += 1) schedule.push(operations[i % operations.length]!);
    const order = seededRng(SEED);
    for (let i = schedule.length - 1; i > 0; i -= 1) {
      const j = order.int(0, i);
      [schedule[i], schedule[j]] = [schedule[j]!, schedule[i]!];
    }
    // Creations first, a few each, so later requests find ids to work on.
    const creations = operations.filter((op) => op.method === 'POST' && !op.path.includes('{') && op.body);
    schedule.unshift(...creations.flatMap((op) => [op, op, op]));

    const counts = new Map<string, Map<string, number>>();
    const byOperation = new Map<string, number>();
    const validCounts = new Map<string, Map<string, number>>();
    const findings: Finding[] = [];
    let next = 0;
    const worker = async () => {
      while (next < schedule.length) {
        const index = next++;
        const op = schedule[index]!;
        const rng = seededRng((SEED ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
        const request = buildRequest(op, rng, pool, creds);
        const operation = `${op.method} ${op.path}`;
        byOperation.set(
          `${op.service} ${operation}`,
          (byOperation.get(`${op.service} ${operation}`) ?? 0) + 1,
        );
        const perService = counts.get(op.service) ?? new Map<string, number>();
        counts.set(op.service, perService);
        let answer: Answer;
        try {
          answer = await send(stack.service(op.service as CmisServiceName).url, request);
        } catch (error) {
          perService.set('no answer', (perService.get('no answer') ?? 0) + 1);
          findings.push({
            service: op.service,
            operation,
            request,
            answer: { error: `${String(error)} ${String((error as { cause?: unknown }).cause ?? '')}` },
            why: 'no answer',
          });
          continue;
        }
        perService.set(String(answer.status), (perService.get(String(answer.status)) ?? 0) + 1);
        if (request.mutation === 'valid') {
          const v = validCounts.get(op.service) ?? new Map<string, number>();
          validCounts.set(op.service, v);
          v.set(String(answer.status), (v.get(String(answer.status)) ?? 0) + 1);
          if (answer.status === 401 && process.env.FUZZ_DEBUG)
            console.log(`401 to valid ${show(request)} ${request.headers.authorization} ${answer.text}`);
        }
        const why = contractBreach(answer);
        if (why) findings.push({ service: op.service, operation, request, answer, why });
        if (answer.status < 300 && answer.contentType.includes('json')) {
          try {
            pool.harvest(JSON.parse(answer.text));
          } catch {
            // not JSON after all: nothing to learn from it
          }
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    const sent = [...byOperation.values()].reduce((a, b) => a + b, 0);
    const tableOf = (source: Map<string, Map<string, number>>) =>
      [...source.entries()].map(
        ([service, statuses]) =>
          `${service.padEnd(10)} ${[...statuses.values()].reduce((a, b) => a + b, 0)}: ` +
          [...statuses.entries()]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([status, n]) => `${status}×${n}`)
            .join(' '),
      );
    console.log(
      `fuzz seed ${SEED}: ${sent} requests over ${byOperation.size} operations in ${Math.round((Date.now() - started) / 1000)} s\n` +
        tableOf(counts).join('\n') +
        '\nof which valid by the schema:\n' +
        tableOf(validCounts).join('\n'),
    );
    // One line per distinct failure (service, operation, why), with the first request that caused it.
    const distinct = new Map<string, Finding>();
    for (const f of findings)
      distinct.set(
        `${f.service} ${f.operation} ${f.why}`,
        distinct.get(`${f.service} ${f.operation} ${f.why}`) ?? f,
      );
    if (distinct.size > 0) {
      console.log(
        [...distinct.entries()]
          .map(([key, f]) => {
            const answer =
              'error' in f.answer
                ? f.answer.error
                : `${f.answer.status} ${f.answer.contentType} ${f.answer.text.slice(0, 300)}`;
            return `FINDING ${key}\n  request: ${show(f.request)}\n  answer: ${answer}`;
          })
          .join('\n'),
      );
    }

    const alive = await Promise.all(
      CMIS_SERVICES.map(async (name) => {
        const s = stack.service(name);
        const health = await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(10_000) }).catch(
          () => undefined,
        );
        return { name, running: s.running, unexpectedExits: s.unexpectedExits, healthz: health?.status };
      }),
    );
    console.log(`processes at the end: ${JSON.stringify(alive)}`);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    for (const op of operations)
      expect(byOperation.get(`${op.service} ${op.method} ${op.path}`) ?? 0).toBeGreaterThanOrEqual(20);
    expect(alive).toEqual(
      CMIS_SERVICES.map((name) => ({ name, running: true, unexpectedExits: 0, healthz: 200 })),
    );
    expect([...distinct.keys()]).toEqual([]);
  });
});

async function post(url: string, bearer: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

async function issueKey(stack: ServiceStack, orgId: string, scopes: string[]): Promise<string> {
  const answer = await post(`${stack.service('triggers').url}/admin/orgs/${orgId}/keys`, ADMIN_TOKEN, {
    scopes,
  });
  return answer.key as string;
}

/** Keys travel to each service over the tenancy topic: until then a service answers 401. */
async function untilKeyKnown(baseUrl: string, path: string, key: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${key}` } });
    await res.arrayBuffer();
    if (res.status !== 401) return;
    if (Date.now() > deadline)
      throw new Error(`${baseUrl}${path} still answers 401 to a key issued a minute ago`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
