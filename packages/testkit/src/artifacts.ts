import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { APICURIO_VERSION, KAFKA_VERSION, LOG4J_VERSION } from './versions';

/** Where downloaded runtimes live: outside the repo, shared by every clone and run. */
export function cacheDir(): string {
  return process.env.CMIS_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cmis');
}

export class ArtifactError extends Error {
  override name = 'ArtifactError';
}

function pom(dependencies: string): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>cmis.testkit</groupId><artifactId>runtime</artifactId><version>1</version><packaging>pom</packaging>
<dependencies>${dependencies}</dependencies></project>`;
}

function runMaven(args: string[], pomXml: string, what: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'cmis-mvn-'));
  try {
    writeFileSync(join(dir, 'pom.xml'), pomXml);
    const result = spawnSync('mvn', ['-B', '-f', join(dir, 'pom.xml'), ...args], { encoding: 'utf8' });
    if (result.error) {
      throw new ArtifactError(
        `cannot run Maven to fetch ${what}: ${result.error.message}. Install Maven (and Java 17+), ` +
          `or point KAFKA_BROKERS / SCHEMA_REGISTRY_URL at running services.`,
      );
    }
    if (result.status !== 0) {
      const out = `${result.stdout}\n${result.stderr}`.split('\n').slice(-25).join('\n');
      throw new ArtifactError(
        `Maven could not fetch ${what} (exit ${result.status}); is Maven Central reachable?\n${out}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A directory lock (mkdir is atomic) so parallel runs never download into the same folder. */
async function withLock<T>(dir: string, fn: () => T): Promise<T> {
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock, { recursive: false });
      break;
    } catch {
      const age = Date.now() - (existsSync(lock) ? statSync(lock).mtimeMs : Date.now());
      if (age > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new ArtifactError(`timed out waiting for ${lock}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function ensure(dir: string, fetch: (dir: string) => void): Promise<string> {
  const marker = join(dir, '.complete');
  if (existsSync(marker)) return dir;
  mkdirSync(cacheDir(), { recursive: true });
  return withLock(dir, () => {
    if (existsSync(marker)) return dir;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    fetch(dir);
    writeFileSync(marker, new Date().toISOString());
    return dir;
  });
}

/** Kafka's jars (and a log4j binding so the broker's log reaches its file): returns the lib dir. */
export async function ensureKafka(): Promise<string> {
  const dir = await ensure(join(cacheDir(), `kafka-${KAFKA_VERSION}`), (target) => {
    const deps =
      `<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>` +
      `<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>`;
    runMaven(
      [
        '-q',
        'dependency:copy-dependencies',
        `-DoutputDirectory=${join(target, 'libs')}`,
        '-DincludeScope=runtime',
      ],
      pom(deps),
      `org.apache.kafka:kafka_2.13:${KAFKA_VERSION}`,
    );
  });
  return join(dir, 'libs');
}

/** Apicurio Registry's `all` distribution, unpacked: returns the runner jar's path. */
export async function ensureApicurio(): Promise<string> {
  const dir = await ensure(join(cacheDir(), `apicurio-registry-${APICURIO_VERSION}`), (target) => {
    runMaven(
      [
        '-q',
        'dependency:unpack',
        `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:zip:all`,
        `-DoutputDirectory=${target}`,
      ],
      pom(''),
      `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:zip:all`,
    );
  });
  const jar = readdirSync(dir).find((f) => f.endsWith('-runner.jar') || f === 'quarkus-run.jar');
  if (!jar) throw new ArtifactError(`no runnable jar in ${dir}; delete the folder to fetch it again`);
  return join(dir, jar);
}
