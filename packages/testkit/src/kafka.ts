import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { ensureKafka } from './artifacts';
import { freePort, InfraStartError, startProcess, waitUntilReady, type ManagedProcess } from './process';

export interface RunningKafka {
  readonly brokers: string[];
  readonly logFile: string;
  stop(): Promise<void>;
  /**
   * Starts the broker again (stopping it first if it runs) on the same ports and data: what was
   * acked before is there after. For fault tests that take the broker away and bring it back.
   */
  restart(): Promise<void>;
}

const LOG4J2 = `
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
`;

/** One combined broker+controller in KRaft mode, on free loopback ports, in `workDir`. */
export interface StartKafkaOptions {
  deadlineMs?: number;
  /** Fixed ports instead of free ones (tests of the failure path use a taken port). */
  port?: number;
  controllerPort?: number;
  /**
   * `quick` (tests): the JVM's first-tier compiler only, which starts the broker in about half the
   * CPU; `full` (benchmarks): the JIT a production broker runs, slower to warm up but cheaper per
   * request once warm.
   */
  jit?: 'quick' | 'full';
}

export async function startKafka(workDir: string, options: StartKafkaOptions = {}): Promise<RunningKafka> {
  const deadlineMs = options.deadlineMs ?? 60_000;
  const libs = await ensureKafka();
  const classpath = `${libs}/*`;
  const port = options.port ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  // A fresh data folder per run: a stale one from an earlier run can never be picked up.
  const dataDir = join(workDir, 'kafka-data');
  mkdirSync(dataDir, { recursive: true });
  const props = join(workDir, 'kafka.properties');
  writeFileSync(
    props,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${dataDir}`,
      'auto.create.topics.enable=false',
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=4',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=4',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'log.flush.interval.messages=9223372036854775807',
    ].join('\n'),
  );
  const log4j = join(workDir, 'kafka-log4j2.properties');
  writeFileSync(log4j, LOG4J2);
  const logFile = join(workDir, 'kafka.log');

  const format = spawnSync(
    'java',
    ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', props],
    { encoding: 'utf8' },
  );
  if (format.error || format.status !== 0) {
    throw new InfraStartError(
      `formatting Kafka storage failed${format.error ? `: ${format.error.message} (is Java 17+ installed?)` : ''}`,
      `${format.stdout ?? ''}${format.stderr ?? ''}`,
    );
  }

  const launch = () =>
    startProcess(
      'kafka',
      'java',
      [
        '-Xms256m',
        '-Xmx768m',
        '-XX:+UseG1GC',
        ...((options.jit ?? 'quick') === 'quick' ? ['-XX:TieredStopAtLevel=1'] : []),
        `-Dlog4j2.configurationFile=${log4j}`,
        '-cp',
        classpath,
        'kafka.Kafka',
        props,
      ],
      logFile,
    );
  const brokers = [`127.0.0.1:${port}`];
  const ready = (started: ManagedProcess) =>
    waitUntilReady(
      started,
      () => kafkaAnswers(brokers),
      deadlineMs,
      /BindException|Address already in use|Exiting Kafka|FATAL|InconsistentClusterIdException/,
    );
  let proc = launch();
  await ready(proc);
  await warmUp(proc, brokers, deadlineMs);
  return {
    brokers,
    logFile,
    stop: () => proc.stop(),
    async restart() {
      await proc.stop();
      proc = launch();
      await ready(proc);
    },
  };
}

/** A random cluster id (base64url of 16 bytes) that the storage tool cannot read as an option. */
function clusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

async function kafkaAnswers(brokers: string[]): Promise<boolean> {
  // Short timeouts: whatever holds the port must not keep a probe waiting past the deadline.
  const admin = new Kafka({
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
  }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } finally {
    await admin.disconnect();
  }
}

/**
 * The group and transaction coordinators load lazily; touching them once here means no
 * test sees "coordinator is loading" on its first produce or join.
 */
async function warmUp(proc: ManagedProcess, brokers: string[], deadlineMs: number): Promise<void> {
  const kafka = new Kafka({ brokers, clientId: 'testkit-warmup', logLevel: logLevel.NOTHING });
  const topic = '__cmis_testkit_warmup';
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: 'testkit-warmup' });
  const warm = async () => {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ value: 'warm' }] });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer.run({ eachMessage: async () => resolve() }).catch(reject);
    });
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      warm(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('warm-up timed out')), deadlineMs);
      }),
    ]);
  } catch (err) {
    await proc.stop(2_000);
    throw new InfraStartError(`Kafka started but did not serve clients: ${(err as Error).message}`, '');
  } finally {
    clearTimeout(timer);
    await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()]);
  }
}
