// Pure: a source is how an upstream app or a third party reaches an org. It holds write keys
// (Segment-style ingest) and webhook secrets (Standard Webhooks), each rotatable with a grace
// period during which old and new both work, and the mapping of its webhook payloads.
import { ConflictError, NotFoundError, type Decider, type EventMetadata } from '@cmis/platform';
import { DEFAULT_WEBHOOK_MAPPING, type WebhookMapping } from '../webhooks/mapping';

type Meta = { metadata: EventMetadata };
type Cmd<T extends string, D> = { type: T; data: D } & Meta;
type Evt<T extends string, D> = { type: T; data: D } & Meta;

export type WriteKeyIssue = { keyId: string; hash: string; prefix: string };
export type WebhookSecretIssue = { secretId: string; secret: string };

export type SourceCommand =
  | Cmd<
      'CreateSource',
      {
        sourceId: string;
        name: string;
        writeKey: WriteKeyIssue;
        webhookSecret: WebhookSecretIssue;
        mapping: WebhookMapping;
        now: string;
      }
    >
  | Cmd<'RotateWriteKey', { writeKey: WriteKeyIssue; graceSeconds: number; now: string }>
  | Cmd<'RevokeWriteKey', { keyId: string; now: string }>
  | Cmd<'RotateWebhookSecret', { webhookSecret: WebhookSecretIssue; graceSeconds: number; now: string }>
  | Cmd<'RevokeWebhookSecret', { secretId: string; now: string }>
  | Cmd<'SetMapping', { mapping: WebhookMapping; now: string }>;

export type SourceEvent =
  | Evt<'cmis.triggers.source-created', { sourceId: string; name: string; createdAt: string }>
  | Evt<'cmis.triggers.write-key-issued', WriteKeyIssue & { issuedAt: string }>
  | Evt<'cmis.triggers.write-key-revoked', { keyId: string; effectiveAt: string }>
  | Evt<'cmis.triggers.webhook-secret-issued', WebhookSecretIssue & { issuedAt: string }>
  | Evt<'cmis.triggers.webhook-secret-revoked', { secretId: string; effectiveAt: string }>
  | Evt<'cmis.triggers.webhook-mapping-set', { mapping: WebhookMapping }>;

/** A credential is live until its revocation takes effect (now, or at the end of a grace period). */
type Credential = { revokedAt?: string };

export type Source =
  | { status: 'absent' }
  | {
      status: 'active';
      sourceId: string;
      name: string;
      writeKeys: Record<string, Credential>;
      webhookSecrets: Record<string, Credential>;
      mapping: WebhookMapping;
    };

export class SourceNotFoundError extends NotFoundError {}
export class SourceExistsError extends ConflictError {}
export class CredentialNotFoundError extends NotFoundError {}
export class CredentialRevokedError extends ConflictError {}

const live = (credential: Credential, now: string) =>
  credential.revokedAt === undefined || credential.revokedAt > now;

const plusSeconds = (iso: string, seconds: number) =>
  new Date(Date.parse(iso) + seconds * 1000).toISOString();

function decide(command: SourceCommand, state: Source): SourceEvent[] {
  const { metadata } = command;
  if (command.type === 'CreateSource') {
    if (state.status !== 'absent')
      throw new SourceExistsError(`Source ${command.data.sourceId} already exists`);
    const { sourceId, name, writeKey, webhookSecret, mapping, now } = command.data;
    return [
      { type: 'cmis.triggers.source-created', data: { sourceId, name, createdAt: now }, metadata },
      { type: 'cmis.triggers.write-key-issued', data: { ...writeKey, issuedAt: now }, metadata },
      { type: 'cmis.triggers.webhook-secret-issued', data: { ...webhookSecret, issuedAt: now }, metadata },
      { type: 'cmis.triggers.webhook-mapping-set', data: { mapping }, metadata },
    ];
  }
  if (state.status === 'absent') throw new SourceNotFoundError('No such source');
  switch (command.type) {
    case 'RotateWriteKey': {
      const { writeKey, graceSeconds, now } = command.data;
      const effectiveAt = plusSeconds(now, graceSeconds);
      return [
        { type: 'cmis.triggers.write-key-issued', data: { ...writeKey, issuedAt: now }, metadata },
        ...liveIds(state.writeKeys, now).map((keyId) => ({
          type: 'cmis.triggers.write-key-revoked' as const,
          data: { keyId, effectiveAt: earlier(state.writeKeys[keyId]!.revokedAt, effectiveAt) },
          metadata,
        })),
      ];
    }
    case 'RevokeWriteKey': {
      const { keyId, now } = command.data;
      checkLive(state.writeKeys, keyId, now, 'write key');
      return [{ type: 'cmis.triggers.write-key-revoked', data: { keyId, effectiveAt: now }, metadata }];
    }
    case 'RotateWebhookSecret': {
      const { webhookSecret, graceSeconds, now } = command.data;
      const effectiveAt = plusSeconds(now, graceSeconds);
      return [
        { type: 'cmis.triggers.webhook-secret-issued', data: { ...webhookSecret, issuedAt: now }, metadata },
        ...liveIds(state.webhookSecrets, now).map((secretId) => ({
          type: 'cmis.triggers.webhook-secret-revoked' as const,
          data: { secretId, effectiveAt: earlier(state.webhookSecrets[secretId]!.revokedAt, effectiveAt) },
          metadata,
        })),
      ];
    }
    case 'RevokeWebhookSecret': {
      const { secretId, now } = command.data;
      checkLive(state.webhookSecrets, secretId, now, 'webhook secret');
      return [
        { type: 'cmis.triggers.webhook-secret-revoked', data: { secretId, effectiveAt: now }, metadata },
      ];
    }
    case 'SetMapping':
      return [
        { type: 'cmis.triggers.webhook-mapping-set', data: { mapping: command.data.mapping }, metadata },
      ];
    default: {
      const unhandled: never = command;
      throw new Error(`unhandled command ${(unhandled as SourceCommand).type}`);
    }
  }
}

function liveIds(credentials: Record<string, Credential>, now: string): string[] {
  return Object.entries(credentials)
    .filter(([, c]) => live(c, now))
    .map(([id]) => id);
}

function earlier(current: string | undefined, proposed: string): string {
  return current !== undefined && current < proposed ? current : proposed;
}

function checkLive(credentials: Record<string, Credential>, id: string, now: string, what: string): void {
  const credential = credentials[id];
  if (!credential) throw new CredentialNotFoundError(`No ${what} ${id} on this source`);
  if (!live(credential, now)) throw new CredentialRevokedError(`The ${what} ${id} is already revoked`);
}

function evolve(state: Source, event: SourceEvent): Source {
  if (event.type === 'cmis.triggers.source-created') {
    const { sourceId, name } = event.data;
    return {
      status: 'active',
      sourceId,
      name,
      writeKeys: {},
      webhookSecrets: {},
      mapping: DEFAULT_WEBHOOK_MAPPING,
    };
  }
  if (state.status === 'absent') return state;
  switch (event.type) {
    case 'cmis.triggers.write-key-issued':
      return { ...state, writeKeys: { ...state.writeKeys, [event.data.keyId]: {} } };
    case 'cmis.triggers.write-key-revoked':
      return {
        ...state,
        writeKeys: { ...state.writeKeys, [event.data.keyId]: { revokedAt: event.data.effectiveAt } },
      };
    case 'cmis.triggers.webhook-secret-issued':
      return { ...state, webhookSecrets: { ...state.webhookSecrets, [event.data.secretId]: {} } };
    case 'cmis.triggers.webhook-secret-revoked':
      return {
        ...state,
        webhookSecrets: {
          ...state.webhookSecrets,
          [event.data.secretId]: { revokedAt: event.data.effectiveAt },
        },
      };
    case 'cmis.triggers.webhook-mapping-set':
      return { ...state, mapping: event.data.mapping };
    default: {
      const unhandled: never = event;
      throw new Error(`unhandled event ${(unhandled as SourceEvent).type}`);
    }
  }
}

export const sourceDecider: Decider<Source, SourceCommand, SourceEvent> = {
  decide,
  evolve,
  initialState: () => ({ status: 'absent' }),
};
