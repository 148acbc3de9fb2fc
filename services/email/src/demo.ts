// The email part of `cmis up --demo`: a welcome template (MJML, Liquid, a tracked link and the
// unsubscribe tag), one transactional send of it to a demo address, and where to read it: the
// dev inbox, which also receives the CPA rule's notification to manager@example.com.

export const WELCOME_TEMPLATE = {
  templateId: 'welcome',
  name: 'Welcome',
  kind: 'template',
  content: {
    subject: 'Welcome to {{ company | default: "CMIS" }}, {{ contact.name | default: "there" }}',
    mjml: true,
    html: `<mjml>
  <mj-head><mj-style inline="inline">.cta a { color: #ffffff; }</mj-style></mj-head>
  <mj-body>
    <mj-section><mj-column>
      <mj-text font-size="20px">Hello {{ contact.name | default: "there" }}!</mj-text>
      <mj-text>Thanks for joining. Your first steps are one click away.</mj-text>
      <mj-button href="https://example.com/start?utm_source=cmis" css-class="cta">Get started</mj-button>
      <mj-text font-size="12px">{% unsubscribe_link "Unsubscribe" %} · {% preferences_link "Preferences" %}</mj-text>
    </mj-column></mj-section>
  </mj-body>
</mjml>`,
  },
} as const;

/** `baseUrl` is where the email routes are mounted (…/email in the all-in-one process). */
export async function emailDemo(ctx: { baseUrl: string; apiKey: string; orgId: string }): Promise<string[]> {
  const base = ctx.baseUrl.endsWith('/') ? ctx.baseUrl : `${ctx.baseUrl}/`;
  const call = async (method: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(new URL(path, base), {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.apiKey}`, ...headers },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as Record<string, unknown>;
    if (response.status >= 300)
      throw new Error(`email demo: ${method} ${path} answered ${response.status}: ${JSON.stringify(json)}`);
    return json;
  };
  const { templateId, name, kind, content } = WELCOME_TEMPLATE;
  const saved = await call('PUT', `v1/templates/${templateId}`, { name, kind, content });
  const sent = await call(
    'POST',
    'v1/messages',
    {
      to: { kind: 'address', address: 'ada@example.com', name: 'Ada' },
      content: { kind: 'template', templateId },
      data: { company: 'Demo Org', contact: { name: 'Ada' } },
    },
    { 'idempotency-key': `demo-welcome-${ctx.orgId}` },
  );
  return [
    `email: template "${name}" (version ${saved.version}) and a welcome email to ada@example.com (message ${sent.messageId})`,
    `  read it in the dev inbox: ${base}dev-inbox (the CPA rule's notification to manager@example.com lands there too)`,
  ];
}
