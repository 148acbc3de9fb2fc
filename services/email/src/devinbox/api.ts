// The dev inbox: what the local SMTP receiver took in, listed and shown rendered, so a newcomer
// running `cmis up` sees the demo's email. Mounted only when the dev inbox is on (the embedded
// default): it shows every org's mail and has no authentication.
import { asyncHandler, NotFoundError, withSystem, type ServiceRuntime } from '@cmis/platform';
import type { Router } from 'express';
import { escapeHtml, page } from '../unsubscribe/page';

interface InboxRow {
  id: string;
  envelope_from: string | null;
  recipients: string[];
  message_id: string | null;
  subject: string | null;
  from_header: string | null;
  to_header: string | null;
  html: string | null;
  text: string | null;
  headers: Array<[string, string]>;
  received_at: Date;
}

const summary = (r: InboxRow) => ({
  id: Number(r.id),
  receivedAt: r.received_at,
  envelopeFrom: r.envelope_from,
  recipients: r.recipients,
  messageId: r.message_id,
  subject: r.subject,
  from: r.from_header,
  to: r.to_header,
});

export function devInboxRoutes(router: Router, rt: ServiceRuntime): void {
  const read = <T>(fn: (trx: Parameters<Parameters<typeof withSystem>[1]>[0]) => Promise<T>) =>
    withSystem(rt.db.owner, fn);

  router.get(
    '/dev-inbox',
    asyncHandler(async (req, res) => {
      const rows = (await read((trx) =>
        trx('dev_inbox')
          .select(
            'id',
            'envelope_from',
            'recipients',
            'message_id',
            'subject',
            'from_header',
            'to_header',
            'received_at',
          )
          .orderBy('id', 'desc')
          .limit(200),
      )) as InboxRow[];
      if (req.accepts(['html', 'json']) === 'json') return void res.json({ messages: rows.map(summary) });
      const list = rows
        .map(
          (r) =>
            `<tr><td>${escapeHtml(new Date(r.received_at).toISOString())}</td><td>${escapeHtml(r.to_header ?? r.recipients.join(', '))}</td>` +
            `<td><a href="dev-inbox/${r.id}">${escapeHtml(r.subject ?? '(no subject)')}</a></td></tr>`,
        )
        .join('\n');
      res
        .type('html')
        .send(
          page(
            'Dev inbox',
            `<p>${rows.length} message(s) received by the local SMTP server.</p><table><tr><th>Received</th><th>To</th><th>Subject</th></tr>${list}</table>`,
          ),
        );
    }),
  );

  router.get(
    '/dev-inbox/:id',
    asyncHandler(async (req, res) => {
      const id = Number(req.params.id);
      const row = Number.isSafeInteger(id)
        ? ((await read((trx) => trx('dev_inbox').where({ id }).first())) as
            (InboxRow & { raw: Buffer }) | undefined)
        : undefined;
      if (!row) throw new NotFoundError(`No message ${req.params.id} in the dev inbox`);
      if (req.accepts(['html', 'json']) === 'json')
        return void res.json({ ...summary(row), headers: row.headers, html: row.html, text: row.text });
      const headers = row.headers
        .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
        .join('');
      // The message's HTML runs in a sandboxed frame: no scripts, no access to this page.
      const frame = row.html
        ? `<iframe sandbox="" style="width:100%;height:32rem;border:1px solid #ccc" srcdoc="${escapeHtml(row.html)}"></iframe>`
        : '';
      res.type('html').send(
        page(
          row.subject ?? '(no subject)',
          `<p><a href="../dev-inbox">← all messages</a> · <a href="${row.id}/raw">raw MIME</a></p>${frame}
             <h2>Text</h2><pre>${escapeHtml(row.text ?? '')}</pre><h2>Headers</h2><table>${headers}</table>`,
        ),
      );
    }),
  );

  router.get(
    '/dev-inbox/:id/raw',
    asyncHandler(async (req, res) => {
      const id = Number(req.params.id);
      const row = Number.isSafeInteger(id)
        ? await read((trx) => trx('dev_inbox').where({ id }).first('raw'))
        : undefined;
      if (!row) throw new NotFoundError(`No message ${req.params.id} in the dev inbox`);
      res.type('message/rfc822').send(row.raw);
    }),
  );
}
