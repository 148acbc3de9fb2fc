import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createCodec, userActionsTopic } from '@cmis/contracts';
import { Kafka, logLevel } from 'kafkajs';
import type { Benchmark } from './bench';
import { startTriggersProcess, trackCall } from './ingest';

const RATE = 1_000;
const SECONDS = 10;
const WARMUP = 1_000;

// node:http with a keep-alive agent (fetch's pool reused sockets the server was closing, under
// bursts: ECONNRESET). The agent heeds the server's Keep-Alive hint (5 s) only when it has a
// timeout of its own, and then only down to it: without one an idle socket stayed open until a
// burst reused it as the server closed it ("socket hang up", 1 call in 11,000). Closing idle
// sockets at 4 s, before the server does, leaves no such race.
const agent = new Agent({ keepAlive: true, maxSockets: 256, timeout: 4_000 });

function post(url: URL, authorization: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          authorization,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * Open loop: request i is due at start + i ms whatever happened before, and its latency counts
 * from when it was due (no coordinated omission). Both sides run at the same rate.
 */
async function openLoop(count: number, send: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  const start = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // Late (the loop fell behind): count from when it was due, so the wait is not hidden (no
    // coordinated omission). Early (a timer fires up to a millisecond early, or a wait under 1 ms
    // is skipped): count from when it was sent, never from a due time still ahead (negative).
    const from = Math.min(due, performance.now());
    inFlight.push(send(i).then(() => void latencies.push(performance.now() - from)));
  }
  await Promise.all(inFlight);
  return latencies.sort((a, b) => a - b);
}

/**
 * Single /v1/track calls at 1,000 requests/s (value = p99 ms, target < 20 ms), beside single-message
 * raw kafkajs produces (idempotent, acks=all) at the same rate: what Kafka alone costs per call.
 */
export const trackLatencyBench: Benchmark = {
  name: 'track-latency',
  description: `triggers /v1/track at ${RATE} req/s open loop for ${SECONDS}s: p99 ms, vs raw kafkajs single produce at the same rate`,
  async run(infra) {
    const triggers = await startTriggersProcess(infra);
    try {
      const auth = `Basic ${Buffer.from(`${triggers.writeKey}:`).toString('base64')}`;
      let failures = 0;
      const errors = new Map<string, number>();
      const target = new URL(`${triggers.url}/v1/track`);
      // Bodies are built before each loop starts, as the reference's one message is encoded
      // before its loop: the load generator's JSON work is not the service's.
      let bodies: string[] = [];
      const prepare = (count: number) => {
        bodies = Array.from({ length: count }, (_, i) => {
          const { type: _type, ...call } = trackCall(`contact-${i % 5_000}`, i);
          return JSON.stringify(call);
        });
      };
      const track = async (i: number) => {
        try {
          const status = await post(target, auth, bodies[i]!);
          if (status !== 200) failures += 1;
        } catch (error) {
          failures += 1;
          errors.set(String(error), (errors.get(String(error)) ?? 0) + 1);
        }
      };
      prepare(WARMUP);
      await openLoop(WARMUP, track);
      prepare(RATE * SECONDS);
      const cpuBefore = triggers.cpuSeconds();
      const http = await openLoop(RATE * SECONDS, track);
      const cpuAfter = triggers.cpuSeconds();
      // The service's own CPU per call: steadier than latency on a shared, busy machine.
      const serviceCpuUsPerCall =
        cpuBefore === undefined || cpuAfter === undefined
          ? 'n/a'
          : (((cpuAfter - cpuBefore) * 1e6) / (RATE * SECONDS)).toFixed(0);
      if (failures > 0) throw new Error(`${failures} track calls failed: ${JSON.stringify([...errors])}`);

      const kafka = new Kafka({
        brokers: infra.kafkaBrokers,
        clientId: 'bench-track-latency',
        logLevel: logLevel.WARN,
      });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const codec = createCodec({ registryUrl: infra.schemaRegistryUrl });
      const { value, headers } = await codec.encode(userActionsTopic.name, {
        id: randomUUID(),
        source: '/cmis/bench',
        type: 'cmis.triggers.action-tracked',
        specversion: '1.0',
        time: new Date().toISOString(),
        subject: 'contact-1',
        orgId: triggers.orgId,
        schemaVersion: 1,
        correlationId: randomUUID(),
        causationId: null,
        data: {
          userId: 'contact-1',
          event: 'Order Completed',
          properties: {},
          context: {},
          messageId: 'm',
          timestamp: new Date().toISOString(),
          sourceId: 's',
        },
      });
      const produce = async (i: number) => {
        await producer.send({
          topic: userActionsTopic.name,
          acks: -1,
          messages: [{ key: `${triggers.orgId}:contact-${i % 5_000}`, value, headers }],
        });
      };
      await openLoop(WARMUP, produce);
      const raw = await openLoop(RATE * SECONDS, produce);
      await producer.disconnect();

      return {
        name: 'track-latency',
        value: percentile(http, 99),
        unit: 'ms',
        reference: percentile(raw, 99),
        details: {
          httpP50Ms: percentile(http, 50).toFixed(2),
          httpP99Ms: percentile(http, 99).toFixed(2),
          rawProduceP50Ms: percentile(raw, 50).toFixed(2),
          rawProduceP99Ms: percentile(raw, 99).toFixed(2),
          serviceCpuUsPerCall,
          target: 'p99 < 20 ms',
        },
      };
    } finally {
      await triggers.stop();
    }
  },
};
