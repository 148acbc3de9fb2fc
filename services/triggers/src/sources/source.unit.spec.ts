import { DeciderSpecification } from '@cmis/platform';
import { DEFAULT_WEBHOOK_MAPPING } from '../webhooks/mapping';
import {
  CredentialNotFoundError,
  CredentialRevokedError,
  sourceDecider,
  SourceExistsError,
  SourceNotFoundError,
  type SourceEvent,
} from './source';

const spec = DeciderSpecification.for(sourceDecider);
const metadata = { actor: 'key_1' };
const t0 = '2025-06-01T12:00:00.000Z';
const t1 = '2025-06-01T13:00:00.000Z';
const writeKey = { keyId: 'wkey_1', hash: 'a'.repeat(64), prefix: 'wk_abcdef' };
const secret = { secretId: 'whs_1', secret: 'whsec_AAAA' };

const created: SourceEvent[] = [
  { type: 'cmis.triggers.source-created', data: { sourceId: 'src_1', name: 'App', createdAt: t0 }, metadata },
  { type: 'cmis.triggers.write-key-issued', data: { ...writeKey, issuedAt: t0 }, metadata },
  { type: 'cmis.triggers.webhook-secret-issued', data: { ...secret, issuedAt: t0 }, metadata },
  { type: 'cmis.triggers.webhook-mapping-set', data: { mapping: DEFAULT_WEBHOOK_MAPPING }, metadata },
];
const create = {
  type: 'CreateSource' as const,
  data: {
    sourceId: 'src_1',
    name: 'App',
    writeKey,
    webhookSecret: secret,
    mapping: DEFAULT_WEBHOOK_MAPPING,
    now: t0,
  },
  metadata,
};

describe('source decider', () => {
  it('creates a source with a write key, a webhook secret and a mapping', () => {
    spec.given([]).when(create).then(created);
  });

  it('refuses to create a source twice', () => {
    spec.given(created).when(create).thenThrows(SourceExistsError);
  });

  it('rotating a write key issues a new one and revokes the live ones at the end of the grace period', () => {
    const next = { keyId: 'wkey_2', hash: 'b'.repeat(64), prefix: 'wk_zzzzzz' };
    spec
      .given(created)
      .when({ type: 'RotateWriteKey', data: { writeKey: next, graceSeconds: 3600, now: t0 }, metadata })
      .then([
        { type: 'cmis.triggers.write-key-issued', data: { ...next, issuedAt: t0 }, metadata },
        { type: 'cmis.triggers.write-key-revoked', data: { keyId: 'wkey_1', effectiveAt: t1 }, metadata },
      ]);
  });

  it('rotating a webhook secret keeps the old one verifying during the grace period', () => {
    const next = { secretId: 'whs_2', secret: 'whsec_BBBB' };
    spec
      .given(created)
      .when({
        type: 'RotateWebhookSecret',
        data: { webhookSecret: next, graceSeconds: 3600, now: t0 },
        metadata,
      })
      .then([
        { type: 'cmis.triggers.webhook-secret-issued', data: { ...next, issuedAt: t0 }, metadata },
        {
          type: 'cmis.triggers.webhook-secret-revoked',
          data: { secretId: 'whs_1', effectiveAt: t1 },
          metadata,
        },
      ]);
  });

  it('a second rotation does not extend a grace period already running', () => {
    const rotated: SourceEvent[] = [
      ...created,
      {
        type: 'cmis.triggers.write-key-issued',
        data: { keyId: 'wkey_2', hash: 'b'.repeat(64), prefix: 'p', issuedAt: t0 },
        metadata,
      },
      { type: 'cmis.triggers.write-key-revoked', data: { keyId: 'wkey_1', effectiveAt: t1 }, metadata },
    ];
    const third = { keyId: 'wkey_3', hash: 'c'.repeat(64), prefix: 'p' };
    spec
      .given(rotated)
      .when({ type: 'RotateWriteKey', data: { writeKey: third, graceSeconds: 86_400, now: t0 }, metadata })
      .then([
        { type: 'cmis.triggers.write-key-issued', data: { ...third, issuedAt: t0 }, metadata },
        { type: 'cmis.triggers.write-key-revoked', data: { keyId: 'wkey_1', effectiveAt: t1 }, metadata },
        {
          type: 'cmis.triggers.write-key-revoked',
          data: { keyId: 'wkey_2', effectiveAt: '2025-06-02T12:00:00.000Z' },
          metadata,
        },
      ]);
  });

  it('revokes a key now; a revoked or unknown key cannot be revoked again', () => {
    spec
      .given(created)
      .when({ type: 'RevokeWriteKey', data: { keyId: 'wkey_1', now: t0 }, metadata })
      .then([
        { type: 'cmis.triggers.write-key-revoked', data: { keyId: 'wkey_1', effectiveAt: t0 }, metadata },
      ]);
    spec
      .given([
        ...created,
        { type: 'cmis.triggers.write-key-revoked', data: { keyId: 'wkey_1', effectiveAt: t0 }, metadata },
      ])
      .when({ type: 'RevokeWriteKey', data: { keyId: 'wkey_1', now: t1 }, metadata })
      .thenThrows(CredentialRevokedError);
    spec
      .given(created)
      .when({ type: 'RevokeWebhookSecret', data: { secretId: 'whs_9', now: t0 }, metadata })
      .thenThrows(CredentialNotFoundError);
  });

  it('refuses commands on a source that does not exist', () => {
    spec
      .given([])
      .when({ type: 'SetMapping', data: { mapping: DEFAULT_WEBHOOK_MAPPING, now: t0 }, metadata })
      .thenThrows(SourceNotFoundError);
  });
});
