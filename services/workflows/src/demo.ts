// The workflows part of `cmis up --demo`: publishes the abandoned-cart journey through the API.
// Its reminder uses the email demo's welcome template (the email service runs beside it).

export const ABANDONED_CART_WORKFLOW = {
  name: 'Abandoned cart',
  description: 'Remind contacts who leave a cart and do not order within an hour',
  entry: { event: 'cart_abandoned' },
  start: 'wait-order',
  steps: [
    {
      id: 'wait-order',
      kind: 'wait_event',
      event: 'order_completed',
      timeout: '1h',
      received: 'ordered',
      timedOut: 'remind',
    },
    { id: 'remind', kind: 'send_email', templateId: 'welcome' },
    { id: 'ordered', kind: 'exit', reason: 'ordered' },
  ],
  goals: [{ event: 'order_completed' }],
  reentry: { policy: 'once_per_period', periodDays: 1 },
} as const;

/** `baseUrl` is where the workflows routes are mounted (…/workflows in the all-in-one process). */
export async function workflowsDemo(ctx: {
  baseUrl: string;
  apiKey: string;
  orgId: string;
}): Promise<string[]> {
  const base = ctx.baseUrl.endsWith('/') ? ctx.baseUrl : `${ctx.baseUrl}/`;
  const call = async (path: string, body?: unknown) => {
    const response = await fetch(new URL(path, base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.apiKey}` },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (response.status !== 201)
      throw new Error(`workflows demo: ${path} answered ${response.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const created = await call('v1/workflows', ABANDONED_CART_WORKFLOW);
  const published = await call(`v1/workflows/${created.workflowId as string}/publish`);
  return [
    `workflows: published "${ABANDONED_CART_WORKFLOW.name}" (workflow ${created.workflowId as string}, version ${published.version as number})`,
    '  on cart_abandoned: wait up to 1 hour for order_completed; if none, email the contact (converted if they order)',
    '  try it: track cart_abandoned for an identified contact through the triggers ingest API (/v1/track)',
  ];
}
