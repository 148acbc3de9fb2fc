import { Client, type QueryResult, type QueryResultRow } from 'pg';
import { OwnershipLostError } from './errors';

/**
 * A group member's dedicated Postgres session. Its session-level advisory locks are the
 * member's ownership of partitions, and everything an owner does (fetch, commit, heartbeat)
 * goes through it: once the session is gone, so are the locks, and any later commit fails
 * instead of overwriting the offsets of the partition's next owner.
 */
export class MemberSession {
  private ended = false;
  /** Queries run one after another: a pg Client must not be handed a query while one runs. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly client: Client,
    private readonly onLost: () => void,
  ) {}

  static async open(
    connectionString: string,
    applicationName: string,
    onLost: () => void,
  ): Promise<MemberSession> {
    const client = new Client({
      connectionString,
      application_name: applicationName,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
    });
    const session = new MemberSession(client, onLost);
    client.on('error', () => session.markLost());
    client.on('end', () => session.markLost());
    try {
      await client.connect();
    } catch (error) {
      await session.end();
      throw error;
    }
    return session;
  }

  /** True once the session ended: every lock it held is released and it owns nothing. */
  get lost(): boolean {
    return this.ended;
  }

  query<R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<QueryResult<R>> {
    const run = () => {
      if (this.ended) return Promise.reject(new OwnershipLostError());
      return this.client.query<R>(text, values);
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Ends the session on purpose (releasing its locks) without reporting it as lost. */
  async end(): Promise<void> {
    this.ended = true;
    await this.client.end().catch(() => undefined);
  }

  private markLost(): void {
    if (this.ended) return;
    this.ended = true;
    this.client.end().catch(() => undefined);
    this.onLost();
  }
}
