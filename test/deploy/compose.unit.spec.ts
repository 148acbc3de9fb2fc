// docker-compose.yml, offline: valid against the Compose Specification's JSON schema (vendored in
// deploy/schemas, see its README), and each CMIS service runs its own entry point after its
// migration step and the topic provisioning, with exactly the settings its code reads and a
// health check that works.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Ajv from 'ajv';
import {
  checkBuilds,
  checkCmisService,
  checkHealthchecks,
  checkProvision,
  CMIS_SERVICES,
  type CmisService,
} from './compose-checks';
import { environmentOf, interpolate, readComposeFile, REPO, type ComposeFile } from './compose-file';
import { dockerfileTargets } from './dockerfile';

const run = promisify(execFile);
const compose = readComposeFile();
const services = Object.keys(CMIS_SERVICES) as CmisService[];
// No shell and no HTTP client in these images (see the comment in docker-compose.yml).
const SCRATCH_IMAGES = ['otel-collector', 'jaeger'];

function composeValidator() {
  const { $schema: _draft, ...schema } = JSON.parse(
    readFileSync(join(REPO, 'deploy/schemas/compose-spec.json'), 'utf8'),
  ) as Record<string, unknown>;
  // The spec's schema carries draft-04 style `id`s that Ajv's strict mode refuses as unknown.
  return new Ajv({ allErrors: true, strict: false }).compile(schema);
}

const copy = (): ComposeFile => structuredClone(compose);

describe('docker-compose.yml', () => {
  const validate = composeValidator();

  it('is valid against the Compose Specification schema', () => {
    expect(validate(compose) ? [] : validate.errors).toEqual([]);
  });

  it('is refused by the schema when a service has a misspelt key', () => {
    const broken = copy();
    (broken.services.rules as Record<string, unknown>).healthchek = { test: ['CMD', 'true'] };
    expect(validate(broken)).toBe(false);
    expect(validate.errors).toContainEqual(
      expect.objectContaining({
        keyword: 'additionalProperties',
        params: { additionalProperty: 'healthchek' },
      }),
    );
  });

  it.each(services)('runs %s after its migration step with the settings its code reads', (name) => {
    expect(checkCmisService(compose, name)).toEqual([]);
  });

  it('provisions the topics and schemas once, before the services', () => {
    expect(checkProvision(compose)).toEqual([]);
  });

  it("builds each image at its own Dockerfile target, whose package holds the command's file", () => {
    expect(checkBuilds(compose, dockerfileTargets(REPO))).toEqual([]);
  });

  it('names a build without a target, a target of another SERVICE, and a command from another image', () => {
    const broken = copy();
    const rules = broken.services.rules!.build as { target?: string };
    delete rules.target;
    (broken.services.drip!.build as { args: Record<string, string> }).args.SERVICE = 'email';
    broken.services.provision!.build = { context: '.', target: 'triggers', args: { SERVICE: 'triggers' } };
    expect(checkBuilds(broken, dockerfileTargets(REPO))).toEqual([
      'provision: runs packages/cli/dist/main.js, which the triggers image does not hold',
      'rules: build must name a target of the Dockerfile',
      'drip: build target drip needs SERVICE=drip',
    ]);
  });

  it('probes every long-running container and waits only on probes that exist', () => {
    expect(checkHealthchecks(compose, SCRATCH_IMAGES)).toEqual([]);
  });

  it('shares the platform settings through x-cmis-env', () => {
    const shared = environmentOf({ environment: compose['x-cmis-env'] as Record<string, string> });
    expect(Object.keys(shared)).toEqual(expect.arrayContaining(['KAFKA_BROKERS', 'REDIS_URL']));
    for (const name of services) expect(environmentOf(compose.services[name]!)).toMatchObject(shared);
  });

  it('names each problem of a broken service', () => {
    const broken = copy();
    const email = broken.services.email!;
    const env = email.environment as Record<string, string>;
    delete env.DATABASE_URL;
    env.EMAIL_UNREAD_SETTING = 'x';
    env.HTTP_PORT = 'not-a-port';
    delete (email.depends_on as Record<string, unknown>)['email-migrate'];
    email.command = ['node', 'services/rules/dist/main.js'];
    (email.healthcheck!.test as string[])[3] = "fetch('http://127.0.0.1:9999/healthz')";
    broken.services['email-migrate']!.command = ['node', 'services/email/dist/main.js'];
    expect(checkCmisService(broken, 'email')).toEqual(
      expect.arrayContaining([
        'email: command must be node services/email/dist/main.js',
        'email: sets EMAIL_UNREAD_SETTING, which nothing in the service reads',
        'email: DATABASE_URL is not set',
        expect.stringMatching(/^email: config refused: .*HTTP_PORT/s),
        'email: DATABASE_URL must log in as the app role cmis_email_app',
        'email: health check must GET http://127.0.0.1:3005/healthz',
        'email: must depend on email-migrate completing successfully',
        'email-migrate: command must be node services/email/dist/main.js migrate',
      ]),
    );

    delete broken.services.redis!.healthcheck;
    expect(checkHealthchecks(broken, SCRATCH_IMAGES)).toEqual(
      expect.arrayContaining([
        'redis: no health check',
        'triggers: waits for redis to be healthy, but redis has no health check',
      ]),
    );
  });

  it('interpolates ${VAR:-default} as Compose does', () => {
    expect(interpolate('a:${X:-d}:${Y-e}:${Z}:$$', { X: '', Y: '' })).toBe('a:d:::$');
    expect(interpolate('${X:-d}', { X: 'set' })).toBe('set');
  });

  describe("services' health check", () => {
    let server: Server;
    let status = 200;
    let port: number;
    beforeAll(async () => {
      server = createServer((req, res) => {
        res.statusCode = req.url === '/healthz' ? status : 404;
        res.end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const probe = async (name: CmisService) => {
      const script = String((compose.services[name]!.healthcheck!.test as string[])[3]).replace(
        `127.0.0.1:${CMIS_SERVICES[name]}`,
        `127.0.0.1:${port}`,
      );
      return run(process.execPath, ['-e', script]).then(
        () => 0,
        (error: { code?: number }) => error.code ?? -1,
      );
    };

    it('exits 0 while /healthz answers 200 and 1 when it does not', async () => {
      status = 200;
      expect(await probe('email')).toBe(0);
      status = 503;
      expect(await probe('email')).toBe(1);
    });
  });
});
