// Where SNS signing certificates may come from, and fetching them. The host check is the trust
// anchor: SNS certificates are not chained to a CA we pin, so a certificate is trusted because
// TLS proved it came from an SNS endpoint of AWS, and only then.
import { WebhookRejected } from './report';

const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/** https, default port, no credentials, and a host of the form sns.<region>.amazonaws.com(.cn). */
export function isSnsEndpointUrl(url: URL): boolean {
  return (
    url.protocol === 'https:' &&
    url.port === '' &&
    url.username === '' &&
    url.password === '' &&
    SNS_HOST.test(url.hostname)
  );
}

/** The certificate could not be fetched for a reason on the network's side; worth a retry. */
export class SnsCertificateUnavailable extends Error {
  override readonly name = 'SnsCertificateUnavailable';
}

async function readCapped(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes)
    throw new WebhookRejected(401, `the signing certificate is over ${maxBytes} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new WebhookRejected(401, `the signing certificate is over ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A certificate fetcher with a timeout, a size cap and a cache per URL (AWS publishes a new URL
 * when it rotates the key, so an entry never goes stale). Failed fetches are not cached.
 */
export function createCertificateFetcher(
  opts: { timeoutMs?: number; maxBytes?: number; maxEntries?: number } = {},
): (url: string) => Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const maxBytes = opts.maxBytes ?? 64 * 1024;
  const maxEntries = opts.maxEntries ?? 32;
  const cache = new Map<string, Promise<string>>();

  async function load(url: string): Promise<string> {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    } catch (error) {
      throw new SnsCertificateUnavailable(
        `fetching the SNS signing certificate ${url} failed: ${String(error)}`,
      );
    }
    // An SNS host that has no such certificate means the URL was made up: the message is forged.
    if (res.status !== 200)
      throw new WebhookRejected(401, `the signing certificate URL answered ${res.status}`);
    return readCapped(res, maxBytes);
  }

  return (url) => {
    const cached = cache.get(url);
    if (cached) return cached;
    const pending = load(url);
    cache.set(url, pending);
    pending.catch(() => cache.delete(url));
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    return pending;
  };
}

export const fetchSnsCertificate = createCertificateFetcher();
