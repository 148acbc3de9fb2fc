// The analytics dashboard in a real browser: the service in its own runtime on Kafka, the
// registry, Postgres and Redis; a scenario published as real encoded events (a workflow's and a
// rule's email sent, opened and clicked, rule firings, orders); headless Chromium (Debian's
// package, installed by scripts/ensure-chromium.sh where missing) logs in with the org's key and
// the charts must show the scenario's numbers, in their tables and in Chart.js's own data.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  createTopicEnvelope,
  emailMessagesTopic,
  ruleEventsTopic,
  userActionsTopic,
  type EventEnvelope,
} from '@cmis/contracts';
import { createAnalyticsService } from '@cmis/analytics';
import { startServiceProcess, type RunningServiceProcess } from '@cmis/platform';
import { testEnv, uniqueName, until } from '@cmis/testkit';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const ADMIN_TOKEN = 'analytics-dashboard-e2e-admin-token-0123';
const ROOT = join(__dirname, '..');
const SCREENSHOT = join(ROOT, 'test-artifacts', 'analytics-dashboard.png');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

describe('analytics dashboard, in a browser', () => {
  const env = testEnv();
  let analytics: RunningServiceProcess;
  let browser: Browser;

  beforeAll(async () => {
    const executablePath = execFileSync('bash', [join(ROOT, 'scripts', 'ensure-chromium.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    [analytics, browser] = await Promise.all([
      startServiceProcess(
        { service: uniqueName('analytics'), httpPort: 0, create: createAnalyticsService() },
        {
          KAFKA_BROKERS: env.kafkaBrokers!.join(','),
          SCHEMA_REGISTRY_URL: env.schemaRegistryUrl,
          DATABASE_URL: env.databaseUrl,
          REDIS_URL: env.redisUrl,
          CMIS_ADMIN_TOKEN: ADMIN_TOKEN,
          LOG_LEVEL: 'silent',
        },
      ),
      puppeteer.launch({
        executablePath,
        headless: true,
        args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-dev-shm-usage'],
      }),
    ]);
  }, 600_000);
  afterAll(async () => {
    await Promise.all([browser?.close(), analytics?.shutdown()]);
  });

  const call = async (method: string, path: string, auth?: string, body?: unknown) => {
    const res = await fetch(`${analytics.url}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(auth ? { authorization: auth } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text.startsWith('{') ? JSON.parse(text) : {}) as Json,
    };
  };

  async function publish(
    topic: string,
    orgId: string,
    subject: string,
    type: string,
    data: unknown,
    time: Date,
  ) {
    const envelope = createTopicEnvelope(topic as never, {
      id: randomUUID(),
      time: time.toISOString(),
      source: '/cmis/dashboard-e2e',
      type: type as never,
      subject,
      orgId,
      data: data as never,
    });
    const encoded = await analytics.platform.codec.encode(topic, envelope as EventEnvelope);
    await analytics.platform.bus.publish(topic, [
      { key: `${orgId}:${subject}`, value: encoded.value, headers: encoded.headers },
    ]);
  }

  /** One message's events: requested, sent, then opened and clicked as asked. */
  async function email(
    orgId: string,
    contactId: string,
    origin: { kind: 'workflow' | 'rule'; id: string },
    at: Date,
    opens: { human?: boolean; machine?: boolean; click?: boolean },
  ) {
    const messageId = randomUUID();
    const ref = { messageId, idempotencyKey: `${origin.id}:${contactId}`, origin, contactId };
    const msg = (type: string, data: Json, offsetMs: number) =>
      publish(
        emailMessagesTopic.name,
        orgId,
        contactId,
        `cmis.email.message-${type}`,
        { ...ref, ...data },
        new Date(at.getTime() + offsetMs),
      );
    await msg(
      'requested',
      {
        to: { kind: 'contact', contactId },
        content: { kind: 'template', templateId: 'cart-reminder' },
        transactional: false,
      },
      0,
    );
    await msg(
      'sent',
      { smtpMessageId: `<${messageId}@e2e>`, provider: 'e2e', attempt: 1, response: '250 ok' },
      1_000,
    );
    if (opens.machine) await msg('opened', { machine: true, machineReason: 'privacy proxy' }, 2_000);
    if (opens.human) await msg('opened', { machine: false }, 3_000);
    if (opens.click)
      await msg('clicked', { machine: false, linkIndex: 0, url: 'https://shop.example.com/cart' }, 4_000);
  }

  const track = (orgId: string, contactId: string, event: string, properties: Json, at: Date) =>
    publish(
      userActionsTopic.name,
      orgId,
      contactId,
      'cmis.triggers.action-tracked',
      {
        userId: contactId,
        event,
        properties,
        context: {},
        messageId: randomUUID(),
        timestamp: at.toISOString(),
        sourceId: 'e2e',
      },
      at,
    );

  const tableOf = (page: Page, id: string) =>
    page.$$eval(`[data-testid="table-${id}"] tbody tr`, (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    );
  const chartOf = (page: Page, id: string) =>
    page.evaluate((testId) => {
      const canvas = document.querySelector(`[data-testid="chart-${testId}"]`) as HTMLCanvasElement;
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const chart = (window as any).Chart.getChart(canvas);
      return chart
        ? {
            type: chart.config.type as string,
            labels: chart.data.labels as unknown[],
            datasets: chart.data.datasets.map((d: { label: string; data: unknown[] }) => ({
              label: d.label,
              data: d.data,
            })),
          }
        : null;
    }, id);

  it('asks for the key, then charts the scenario’s funnel, rule firings, RFM grid and ROI', async () => {
    const admin = `Bearer ${ADMIN_TOKEN}`;
    const orgId = (await call('POST', '/admin/orgs', admin, { name: uniqueName('dash') })).body
      .orgId as string;
    const key = (
      await call('POST', `/admin/orgs/${orgId}/keys`, admin, {
        scopes: ['analytics:read', 'analytics:write'],
      })
    ).body.key as string;
    const readOnly = (await call('POST', `/admin/orgs/${orgId}/keys`, admin, { scopes: ['email:read'] })).body
      .key as string;
    const bearer = `Bearer ${key}`;
    await until(
      () => call('GET', '/dashboard/data', bearer),
      (r) => r.status === 200,
    );
    expect((await call('PUT', '/v1/settings', bearer, { messageCost: 0.5 })).status).toBe(200);

    // Without a session or a key the data is refused; a key without analytics:read gets no session.
    const anonymous = await call('GET', '/dashboard/data');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((await call('POST', '/dashboard/session', undefined, { apiKey: readOnly })).status).toBe(403);
    expect(
      (await call('POST', '/dashboard/session', undefined, { apiKey: 'cmis_0000000000000000_nope' })).status,
    ).toBe(401);

    // The scenario: the cart workflow mails four contacts (three open, one more is opened only by a
    // privacy proxy, two click); a VIP rule fires three times and its mail to a fourth contact is
    // clicked; the first workflow clicker orders 120, the rule's clicker 30.
    const t0 = new Date(Date.now() - 60 * 60_000);
    const cart = { kind: 'workflow' as const, id: uniqueName('wf-cart') };
    const vip = { kind: 'rule' as const, id: uniqueName('rule-vip') };
    const [c1, c2, c3, c4, c5] = ['c1', 'c2', 'c3', 'c4', 'c5'].map((c) => uniqueName(c));
    await email(orgId, c1!, cart, t0, { human: true, click: true });
    await email(orgId, c2!, cart, t0, { human: true, click: true });
    await email(orgId, c3!, cart, t0, { human: true });
    await email(orgId, c4!, cart, t0, { machine: true });
    for (const subject of [c1!, c2!, c5!]) {
      await publish(
        ruleEventsTopic.name,
        orgId,
        subject,
        'cmis.rules.rule-fired',
        { ruleId: vip.id, ruleVersion: 1, subject, dryRun: false, matchedConditions: ['vip'] },
        t0,
      );
    }
    await email(orgId, c5!, vip, t0, { click: true });
    const orderedAt = new Date(t0.getTime() + 10 * 60_000);
    await track(orgId, c1!, 'Order Completed', { revenue: 120, currency: 'EUR' }, orderedAt);
    await track(orgId, c5!, 'Order Completed', { revenue: 30, currency: 'EUR' }, orderedAt);

    // The projections and RFM consume asynchronously: wait until the data has the whole scenario.
    const data = (
      await until(
        () => call('GET', '/dashboard/data', bearer),
        (r) =>
          r.body.emailFunnel?.rows?.find((s: Json) => s.stage === 'clicked')?.messages === 3 &&
          r.body.roi?.rows?.length === 2 &&
          r.body.roi.rows.every((x: Json) => x.conversions === 1) &&
          r.body.rfmGrid?.rows?.reduce((n: number, c: Json) => n + c.contacts, 0) === 2,
        { timeoutMs: 45_000 },
      )
    ).body;
    expect(data.orgId).toBe(orgId);

    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1800 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${analytics.url}/dashboard`, { waitUntil: 'load' });
    await page.waitForSelector('body[data-state="login"]');
    expect(await page.$eval('[data-testid="dashboard"]', (el) => (el as HTMLElement).hidden)).toBe(true);

    // A wrong key is refused on the form.
    await page.type('#api-key', 'cmis_0000000000000000_nope');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(
      () => document.querySelector('[data-testid="login-error"]')?.textContent !== '',
    );

    await page.$eval('#api-key', (el) => ((el as HTMLInputElement).value = ''));
    await page.type('#api-key', key);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('body[data-state="ready"]');
    expect(await page.$eval('#login', (el) => getComputedStyle(el).display)).toBe('none');
    const cookie = (await browser.cookies()).find((c) => c.name === 'cmis_dashboard');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/dashboard' });
    expect(cookie!.value).not.toContain(key);

    // Email funnel: 5 requested and sent (4 + 1), no deliveries reported, 3 human opens, 3 clicks.
    expect(await tableOf(page, 'emailFunnel')).toEqual([
      ['requested', '5', '100.0%'],
      ['sent', '5', '100.0%'],
      ['delivered', '0', '0.0%'],
      ['opened', '3', '60.0%'],
      ['clicked', '3', '60.0%'],
    ]);
    expect(await chartOf(page, 'emailFunnel')).toEqual({
      type: 'bar',
      labels: ['requested', 'sent', 'delivered', 'opened', 'clicked'],
      datasets: [{ label: 'messages', data: [5, 5, 0, 3, 3] }],
    });

    // Rule firings: 3, one conversion credited to the rule's mail (c5's 30).
    expect(await tableOf(page, 'ruleFirings')).toEqual([[vip.id, '3', '0', '0', '1', '30.00', '33.3%']]);
    expect(await chartOf(page, 'ruleFirings')).toEqual({
      type: 'bar',
      labels: [vip.id],
      datasets: [
        { label: 'firings', data: [3] },
        { label: 'conversions', data: [1] },
      ],
    });

    // ROI per campaign (email origin), last touch: the workflow earned 120 on 4 sends at 0.50, the rule 30 on 1.
    const roiRows = [
      [`rule:${vip.id}`, '1', '1', '30.00', '0.50', '60.00'],
      [`workflow:${cart.id}`, '4', '1', '120.00', '2.00', '60.00'],
    ].sort((a, b) => a[0]!.localeCompare(b[0]!));
    expect(await tableOf(page, 'roi')).toEqual(roiRows);
    expect(await chartOf(page, 'roi')).toEqual({
      type: 'bar',
      labels: roiRows.map((r) => r[0]),
      datasets: [
        { label: 'cost', data: roiRows.map((r) => Number(r[4])) },
        { label: 'revenue', data: roiRows.map((r) => Number(r[3])) },
      ],
    });

    // RFM grid: the two buyers, wherever their scores put them, and the chart's bubbles agree.
    const grid = await tableOf(page, 'rfmGrid');
    expect(grid.map((r) => r[0])).toEqual(['5', '4', '3', '2', '1']);
    expect(grid.flatMap((r) => r.slice(1)).reduce((n, c) => n + Number(c), 0)).toBe(2);
    const bubbles = await chartOf(page, 'rfmGrid');
    expect(bubbles?.type).toBe('bubble');
    const cells = data.rfmGrid.rows as Array<{ recency: number; frequency: number; contacts: number }>;
    expect((bubbles!.datasets[0]!.data as Json[]).map((p) => [p.y, p.x, p.contacts])).toEqual(
      cells.map((c) => [c.recency, c.frequency, c.contacts]),
    );
    for (const c of cells) expect(Number(grid[5 - c.recency]![c.frequency])).toBe(c.contacts);

    // Nothing seeded for these: they say so instead of drawing an empty chart.
    for (const id of ['experiments', 'segmentSizes']) {
      expect(await page.$eval(`[data-testid="status-${id}"]`, (el) => el.textContent)).toBe('no data yet');
      expect(await chartOf(page, id)).toBeNull();
    }
    expect(errors).toEqual([]);

    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT as `${string}.png`, fullPage: true });

    // Logging out ends the session: the page asks for the key again, the old cookie is refused.
    await page.click('#logout');
    await page.waitForSelector('body[data-state="login"]');
    const stale = await fetch(`${analytics.url}/dashboard/data`, {
      headers: { cookie: `cmis_dashboard=${cookie!.value}` },
    });
    expect(stale.status).toBe(401);
    await page.close();
  });
});
