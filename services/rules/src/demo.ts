// The rules part of `cmis up --demo`: loads the predecessor's "Pause high CPA campaigns" rule
// (analysis, Appendix B) through the HTTP API.

/** The predecessor's example rule, as this API takes it. */
export const PAUSE_HIGH_CPA_RULE = {
  name: 'Pause high CPA campaigns',
  description: 'Automatically pause campaigns with CPA > $50',
  ruleType: 'campaign_performance',
  entityType: 'campaign',
  priority: 'high',
  status: 'active',
  enabled: true,
  cooldownSeconds: 60 * 60,
  trigger: { kind: 'metrics' },
  conditions: { all: [{ id: 'cpa-above-50', field: 'metrics.cpa', operator: '>', value: 50 }] },
  actions: [
    { kind: 'pause_campaign' },
    {
      kind: 'send_notification',
      channel: 'email',
      recipients: ['manager@example.com'],
      title: 'Campaign {{entity.id}} paused: CPA exceeded threshold',
      message: 'CPA {{metrics.cpa}} is above 50; campaign {{entity.id}} was asked to pause.',
    },
  ],
} as const;

/** `baseUrl` is where the rules routes are mounted (…/rules in the all-in-one process). */
export async function rulesDemo(ctx: { baseUrl: string; apiKey: string; orgId: string }): Promise<string[]> {
  const base = ctx.baseUrl.endsWith('/') ? ctx.baseUrl : `${ctx.baseUrl}/`;
  const response = await fetch(new URL('v1/rules', base), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.apiKey}` },
    body: JSON.stringify(PAUSE_HIGH_CPA_RULE),
  });
  const body = (await response.json()) as { ruleId?: string; version?: number; detail?: string };
  if (response.status !== 201) {
    throw new Error(
      `rules demo: creating the CPA rule answered ${response.status}: ${body.detail ?? JSON.stringify(body)}`,
    );
  }
  return [
    `rules: loaded "${PAUSE_HIGH_CPA_RULE.name}" (rule ${body.ruleId}, version ${body.version}) for org ${ctx.orgId}`,
    '  when campaign metrics arrive with metrics.cpa > 50: pause the campaign and email manager@example.com',
    '  cooldown 60 minutes per campaign; actions appear on cmis.rules.actions.v1, firings on cmis.rules.rule-events.v1',
    `  try it: POST a campaign's metrics with cpa 55 to the triggers ingest API (/v1/metrics)`,
  ];
}
