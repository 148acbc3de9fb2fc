import { applyMapping, DEFAULT_WEBHOOK_MAPPING, WebhookMapping } from './mapping';

const ctx = {
  sourceId: 'src_1',
  webhookId: 'msg_1',
  sentAt: new Date('2025-06-01T11:59:00Z'),
  receivedAt: new Date('2025-06-01T12:00:00Z'),
};
const paths = (r: ReturnType<typeof applyMapping>) => (r.ok ? [] : r.errors.map((e) => e.path));

describe('webhook payload mapping', () => {
  it('maps a Standard Webhooks payload with the default mapping', () => {
    const result = applyMapping(
      DEFAULT_WEBHOOK_MAPPING,
      { type: 'invoice.paid', timestamp: '2025-06-01T11:58:00Z', data: { userId: 'cus_1', amount: 10 } },
      ctx,
    );
    expect(result).toEqual({
      ok: true,
      value: {
        topic: 'cmis.triggers.user-actions.v1',
        type: 'cmis.triggers.action-tracked',
        subject: 'cus_1',
        messageId: 'webhook:src_1:msg_1',
        time: '2025-06-01T11:58:00.000Z',
        data: {
          userId: 'cus_1',
          event: 'invoice.paid',
          properties: { userId: 'cus_1', amount: 10 },
          context: { webhook: { id: 'msg_1', sourceId: 'src_1' } },
          messageId: 'msg_1',
          timestamp: '2025-06-01T11:58:00.000Z',
          sourceId: 'src_1',
        },
      },
    });
  });

  it('uses a fixed event name and numeric ids, and the header time when the payload has none', () => {
    const mapping = WebhookMapping.parse({
      event: { value: 'Payment Received' },
      userId: { path: 'customer.id' },
    });
    const result = applyMapping(mapping, { customer: { id: 42 } }, ctx);
    expect(result.ok && [result.value.subject, result.value.data.event, result.value.time]).toEqual([
      '42',
      'Payment Received',
      '2025-06-01T11:59:00.000Z',
    ]);
  });

  it('names the payload field at fault', () => {
    expect(paths(applyMapping(DEFAULT_WEBHOOK_MAPPING, { data: { userId: 'u' } }, ctx))).toEqual([
      'body.type',
    ]);
    expect(paths(applyMapping(DEFAULT_WEBHOOK_MAPPING, { type: 'x', data: {} }, ctx))).toEqual([
      'body.data.userId',
    ]);
    expect(paths(applyMapping(DEFAULT_WEBHOOK_MAPPING, { type: 'x', data: { userId: true } }, ctx))).toEqual([
      'body.data.userId',
    ]);
    expect(
      paths(
        applyMapping(DEFAULT_WEBHOOK_MAPPING, { type: 'x', timestamp: 'soon', data: { userId: 'u' } }, ctx),
      ),
    ).toEqual(['body.timestamp']);
    expect(paths(applyMapping(DEFAULT_WEBHOOK_MAPPING, [1, 2], ctx))).toEqual(['body']);
  });

  it('refuses a mapping that names no contact', () => {
    expect(WebhookMapping.safeParse({ event: { path: 'type' } }).success).toBe(false);
  });
});
