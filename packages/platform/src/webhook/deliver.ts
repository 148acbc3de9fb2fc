// Delivers one webhook (a rule's action, a workflow's step): SSRF-safe (every address a name
// resolves to is checked, and the connection goes to the checked address through a custom lookup;
// redirects are re-checked), bounded in time and response size, signed per Standard Webhooks,
// retried under one id.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent, request } from 'undici';
import { checkWebhookUrl, classifyAddress, type Allowlist } from './address';
import { webhookHeaders } from './signature';

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  );

export class BlockedAddressError extends Error {
  override readonly name = 'BlockedAddressError';
}

export interface WebhookSenderOptions {
  allowlist?: Allowlist;
  resolve?: Resolver;
  /** Per attempt, connect to last byte. */
  timeoutMs?: number;
  maxResponseBytes?: number;
  maxRedirects?: number;
  /** Attempts in all, and the first backoff (doubling). */
  maxAttempts?: number;
  backoffMs?: number;
  now?: () => Date;
}

export interface WebhookRequest {
  /** The idempotency key: webhook-id of every attempt. */
  id: string;
  url: string;
  method: 'POST' | 'PUT' | 'PATCH';
  headers: Record<string, string>;
  body: Record<string, unknown>;
  secret: string;
}

export type AttemptResult =
  | { ok: true; status: number; bytes: number; truncated: boolean }
  | { ok: false; reason: string; retryable: boolean; status?: number };

export type DeliveryResult = AttemptResult & { attempts: number };

/** Every address `hostname` resolves to must be allowed; the connection uses those addresses. */
export async function resolveChecked(
  hostname: string,
  allowlist: Allowlist,
  resolve: Resolver,
): Promise<LookupAddress[]> {
  const addresses = await resolve(hostname);
  if (addresses.length === 0) throw new BlockedAddressError(`${hostname} does not resolve`);
  for (const a of addresses) {
    const verdict = classifyAddress(a.address, allowlist);
    if (!verdict.allowed) throw new BlockedAddressError(`${hostname} resolves to ${verdict.reason}`);
  }
  return addresses;
}

export interface WebhookSender {
  deliver(request: WebhookRequest): Promise<DeliveryResult>;
  attempt(request: WebhookRequest): Promise<AttemptResult>;
  close(): Promise<void>;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export function createWebhookSender(options: WebhookSenderOptions = {}): WebhookSender {
  const allowlist = options.allowlist ?? [];
  const resolve = options.resolve ?? systemResolver;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxResponseBytes = options.maxResponseBytes ?? 64 * 1024;
  const maxRedirects = options.maxRedirects ?? 3;
  const maxAttempts = options.maxAttempts ?? 4;
  const backoffMs = options.backoffMs ?? 250;
  const now = options.now ?? (() => new Date());

  // net.connect asks this lookup for the socket's address: the address checked is the one used.
  const lookup = (
    hostname: string,
    opts: { all?: boolean },
    callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    resolveChecked(hostname, allowlist, resolve).then(
      (addresses) =>
        opts.all ? callback(null, addresses) : callback(null, addresses[0]!.address, addresses[0]!.family),
      (error: Error) => callback(error, ''),
    );
  };
  const agent = new Agent({
    connect: { lookup: lookup as never, timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 1_000,
  });

  async function attempt(req: WebhookRequest): Promise<AttemptResult> {
    const body = JSON.stringify(req.body);
    let url = req.url;
    let method: string = req.method;
    let payload: string | undefined = body;
    const signal = AbortSignal.timeout(timeoutMs);
    let origin: string | undefined;
    for (let hop = 0; ; hop++) {
      const checked = checkWebhookUrl(url, allowlist);
      if (!checked.ok) {
        return {
          ok: false,
          reason: `${hop === 0 ? 'url' : 'redirect to ' + url} ${checked.reason}`,
          retryable: false,
        };
      }
      origin ??= checked.url.origin;
      // The receiver's own headers and the signature go to the webhook's origin only: a redirect to
      // another origin gets neither (as fetch drops Authorization), so a receiver cannot hand them
      // to a third party, which could replay the signed body to the receiver within the tolerance.
      const headers: Record<string, string> =
        checked.url.origin === origin
          ? { ...req.headers, ...webhookHeaders(req.secret, req.id, now(), body) }
          : {};
      if (payload !== undefined) headers['content-type'] = 'application/json';
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(checked.url, {
          method: method as 'POST',
          headers,
          body: payload,
          dispatcher: agent,
          maxRedirections: 0,
          signal,
        });
      } catch (error) {
        return failureOf(error);
      }
      const location = response.headers.location;
      if (REDIRECTS.has(response.statusCode) && typeof location === 'string') {
        await response.body.dump().catch(() => undefined);
        if (hop >= maxRedirects)
          return { ok: false, reason: `more than ${maxRedirects} redirects`, retryable: false };
        url = new URL(location, checked.url).toString();
        if (
          response.statusCode === 303 ||
          ((response.statusCode === 301 || response.statusCode === 302) && method !== 'GET')
        ) {
          method = 'GET';
          payload = undefined;
        }
        continue;
      }
      let bytes = 0;
      let truncated = false;
      try {
        for await (const chunk of response.body) {
          bytes += (chunk as Buffer).length;
          if (bytes > maxResponseBytes) {
            truncated = true;
            response.body.destroy();
            break;
          }
        }
      } catch (error) {
        if (!truncated) return failureOf(error, response.statusCode);
      }
      const status = response.statusCode;
      if (status >= 200 && status < 300)
        return { ok: true, status, bytes: Math.min(bytes, maxResponseBytes), truncated };
      const retryable = status === 408 || status === 429 || status >= 500;
      return { ok: false, reason: `receiver answered ${status}`, retryable, status };
    }
  }

  async function deliver(req: WebhookRequest): Promise<DeliveryResult> {
    for (let attempts = 1; ; attempts++) {
      const result = await attempt(req);
      if (result.ok || !result.retryable || attempts >= maxAttempts) return { ...result, attempts };
      await new Promise((r) => setTimeout(r, backoffMs * 2 ** (attempts - 1)));
    }
  }

  return { deliver, attempt, close: () => agent.close() };
}

function failureOf(error: unknown, status?: number): AttemptResult {
  const blocked = findCause(error, BlockedAddressError);
  if (blocked) return { ok: false, reason: `refused: ${blocked.message}`, retryable: false };
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { ok: false, reason: `request failed: ${message}`, retryable: true, ...(status ? { status } : {}) };
}

function findCause<T extends Error>(error: unknown, type: new (...args: never[]) => T): T | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof type) return e;
  }
  return undefined;
}
