// Reads a received message for the dev inbox and the report parsers. mailparser never rejects
// bytes it is given: garbage comes back as "header lines" without a field name. So a message is
// malformed when it has not one header field (RFC 5322 needs at least a name, a colon, a value);
// a message with some fields and some broken lines is read for what it has.
import { simpleParser, type AddressObject } from 'mailparser';

export interface ParsedReceived {
  messageId?: string;
  subject?: string;
  /** The From header as written (`Name <address>`). */
  from?: string;
  /** The To header's addresses. */
  to: string[];
  date?: Date;
  html?: string;
  text?: string;
  /** Every header field in order: [lowercase name, value as received, unfolded, not decoded]. */
  headers: Array<[string, string]>;
}

/** The bytes are not an RFC 5322 message: not one header field. */
export class MalformedMime extends Error {
  override name = 'MalformedMime';
}

export async function parseReceived(raw: Buffer): Promise<ParsedReceived> {
  let parsed;
  try {
    parsed = await simpleParser(raw, { skipTextToHtml: true });
  } catch (error) {
    throw new MalformedMime(`not a MIME message: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const headers: Array<[string, string]> = parsed.headerLines
    .filter((h) => h.key !== '')
    .map((h) => [h.key, valueOf(h.line)]);
  if (headers.length === 0) throw new MalformedMime('not a MIME message: no header fields');
  return {
    ...(parsed.messageId ? { messageId: parsed.messageId } : {}),
    ...(parsed.subject !== undefined ? { subject: parsed.subject } : {}),
    ...(parsed.from ? { from: parsed.from.text } : {}),
    to: addressesOf(parsed.to),
    ...(parsed.date ? { date: parsed.date } : {}),
    ...(typeof parsed.html === 'string' ? { html: parsed.html } : {}),
    ...(parsed.text !== undefined ? { text: parsed.text } : {}),
    headers,
  };
}

function valueOf(line: string): string {
  return line
    .slice(line.indexOf(':') + 1)
    .replace(/\r?\n(?=[ \t])/g, '')
    .trim();
}

function addressesOf(field: AddressObject | AddressObject[] | undefined): string[] {
  if (!field) return [];
  const groups = Array.isArray(field) ? field : [field];
  // Group syntax nests addresses one level down.
  return groups.flatMap((g) =>
    g.value
      .flatMap((a) => (a.group ? a.group.map((m) => m.address) : [a.address]))
      .filter((a): a is string => !!a),
  );
}
