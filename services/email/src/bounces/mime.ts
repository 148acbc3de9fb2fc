// Just enough MIME (RFC 2045/2046) to read reports: header blocks, multipart bodies and transfer
// encodings. mailparser's simpleParser folds message/delivery-status into the text body and
// accepts truncated input silently, so reports are split here, strictly: a report that cannot
// be read completely is refused rather than half-read. Text is handled as latin1, one char per
// byte, so boundaries and offsets are byte-exact whatever the charset.
import { MalformedMessage } from './malformed-message';

export interface HeaderField {
  /** Lowercased. */
  name: string;
  /** Unfolded, trimmed. */
  value: string;
}

export interface MimeEntity {
  headers: HeaderField[];
  /** Still transfer-encoded. */
  body: string;
}

const FIELD = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$/;

/** Header fields of `lines` (RFC 5322 unfolding); `what` names the block in errors. */
export function parseFields(lines: readonly string[], what: string): HeaderField[] {
  const fields: HeaderField[] = [];
  lines.forEach((line, index) => {
    if (/^[ \t]/.test(line)) {
      const last = fields[fields.length - 1];
      if (!last) throw new MalformedMessage(`${what} starts with a continuation line`);
      last.value = `${last.value} ${line.trim()}`.trim();
      return;
    }
    const match = FIELD.exec(line);
    if (!match)
      throw new MalformedMessage(
        `${what}: line ${index + 1} is not a header field: ${JSON.stringify(line.slice(0, 60))}`,
      );
    fields.push({ name: match[1]!.toLowerCase(), value: match[2]!.trim() });
  });
  return fields;
}

/** Headers and body of an entity; one that starts with the blank line has no headers. */
export function parseEntity(text: string, what: string): MimeEntity {
  const start = /^\r?\n/.exec(text);
  if (text === '' || start) return { headers: [], body: text.slice(start?.[0].length ?? 0) };
  const separator = /\r?\n\r?\n/.exec(text);
  // Without a blank line it is all header (text/rfc822-headers may end without one).
  const headerText = (separator ? text.slice(0, separator.index) : text).replace(/(\r?\n)+$/, '');
  const body = separator ? text.slice(separator.index + separator[0].length) : '';
  return { headers: parseFields(headerText.split(/\r?\n/), `the header of ${what}`), body };
}

export function headerOf(entity: MimeEntity, name: string): string | undefined {
  return entity.headers.find((h) => h.name === name)?.value;
}

/** Splits on `sep` outside double quotes. */
function splitUnquoted(text: string, sep: string): string[] {
  const pieces: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char === '\\' && quoted) {
      current += char + (text[i + 1] ?? '');
      i++;
    } else if (char === '"') {
      quoted = !quoted;
      current += char;
    } else if (char === sep && !quoted) {
      pieces.push(current);
      current = '';
    } else current += char;
  }
  pieces.push(current);
  return pieces;
}

export interface ContentType {
  /** type/subtype, lowercased; text/plain when absent (RFC 2045 §5.2). */
  type: string;
  /** Parameter names lowercased, values unquoted. */
  params: Record<string, string>;
}

export function contentTypeOf(entity: MimeEntity): ContentType {
  const value = headerOf(entity, 'content-type');
  if (!value) return { type: 'text/plain', params: {} };
  const [type, ...rest] = splitUnquoted(value, ';');
  const params: Record<string, string> = {};
  for (const piece of rest) {
    const eq = piece.indexOf('=');
    if (eq < 0) continue;
    let param = piece.slice(eq + 1).trim();
    if (param.startsWith('"') && param.endsWith('"') && param.length >= 2)
      param = param.slice(1, -1).replace(/\\(.)/g, '$1');
    params[piece.slice(0, eq).trim().toLowerCase()] = param;
  }
  return { type: type!.trim().toLowerCase(), params };
}

/** The body parts of a multipart entity; a missing boundary or closing delimiter is refused. */
export function partsOf(entity: MimeEntity, what: string): MimeEntity[] {
  const boundary = contentTypeOf(entity).params.boundary;
  if (!boundary) throw new MalformedMessage(`${what} is multipart without a boundary`);
  const delimiter = `--${boundary}`;
  const parts: string[][] = [];
  let current: string[] | undefined;
  let closed = false;
  for (const line of entity.body.split(/\r?\n/)) {
    const bare = line.replace(/[ \t]+$/, '');
    if (bare === `${delimiter}--`) {
      if (current) parts.push(current);
      closed = true;
      break;
    }
    if (bare === delimiter) {
      if (current) parts.push(current);
      current = [];
    } else current?.push(line);
  }
  if (parts.length === 0 && !current)
    throw new MalformedMessage(`${what} has no body part for boundary ${boundary}`);
  if (!closed) throw new MalformedMessage(`${what} is truncated: its closing boundary is missing`);
  return parts.map((lines, index) => parseEntity(lines.join('\r\n'), `part ${index + 1} of ${what}`));
}

function decodeQuotedPrintable(text: string): Buffer {
  const joined = text.replace(/=[ \t]*\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(joined.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes);
}

/** The body's bytes, transfer encoding undone. */
export function decodedBody(entity: MimeEntity, what: string): Buffer {
  const encoding = (headerOf(entity, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  switch (encoding) {
    case '7bit':
    case '8bit':
    case 'binary':
      return Buffer.from(entity.body, 'latin1');
    case 'base64':
      return Buffer.from(entity.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(entity.body);
    default:
      throw new MalformedMessage(`${what} has an unknown Content-Transfer-Encoding ${encoding}`);
  }
}
