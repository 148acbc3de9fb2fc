/**
 * The triggers part of `cmis up --demo`: creates a source through the HTTP API and prints a curl
 * line that sends a track call with its write key. `baseUrl` is where the service's routes are
 * (e.g. http://localhost:3000/triggers in the all-in-one); paths here are relative to it.
 */
export async function triggersDemo(ctx: {
  baseUrl: string;
  apiKey: string;
  orgId: string;
}): Promise<string[]> {
  const base = ctx.baseUrl.replace(/\/+$/, '');
  const response = await fetch(`${base}/v1/sources`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.apiKey}` },
    body: JSON.stringify({ name: 'Demo app' }),
  });
  if (response.status !== 201) {
    throw new Error(`triggers demo: creating a source answered ${response.status}: ${await response.text()}`);
  }
  const source = (await response.json()) as { sourceId: string; writeKey: string; webhookSecret: string };
  const track = JSON.stringify({
    userId: 'demo-user-1',
    event: 'Order Completed',
    properties: { orderId: 'o-1001', revenue: 42.5, currency: 'EUR' },
  });
  return [
    `triggers: source ${source.sourceId} for org ${ctx.orgId}`,
    `  write key:      ${source.writeKey}`,
    `  webhook URL:    ${base}/v1/webhooks/${source.sourceId} (secret ${source.webhookSecret})`,
    `  send a track call (lands on cmis.triggers.user-actions.v1):`,
    `  curl -sS -u '${source.writeKey}:' -H 'content-type: application/json' -d '${track}' ${base}/v1/track`,
  ];
}
