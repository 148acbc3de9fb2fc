// The client side of the fault tests: JSON calls to a service, and the loop a well-behaved
// upstream runs under faults (the same request, same messageIds, until a 2xx).

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 200 ms until it is true; fails naming `what` after `timeoutMs`. */
export async function pollUntil(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** One JSON request; `auth` is the whole Authorization header (`Bearer …`, `Basic …`). */
export async function call(
  base: string,
  method: string,
  path: string,
  auth: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: auth, ...extraHeaders },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown>,
  };
}

export const bearer = (token: string): string => `Bearer ${token}`;

/**
 * The client's loop: the same request until a 2xx. A 4xx other than 401 (a key not yet known to
 * every service) and 429 is a bug of the test and fails at once.
 */
export async function retrying(
  what: string,
  attempt: () => Promise<Answer>,
  timeoutMs = 120_000,
): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await attempt().catch(() => undefined);
    const status = answer?.status ?? 0;
    if (answer && status >= 200 && status < 300) return answer;
    if (status >= 400 && status < 500 && status !== 429 && status !== 401)
      throw new Error(`${what}: ${status} ${JSON.stringify(answer?.body)}`);
    if (Date.now() > deadline)
      throw new Error(`${what}: no 2xx within ${timeoutMs / 1000} s (last ${status})`);
    await sleep(500);
  }
}
