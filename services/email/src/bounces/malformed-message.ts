/** Mail that claims to be (or has to be read as) a MIME message and cannot be read as one. */
export class MalformedMessage extends Error {
  override readonly name = 'MalformedMessage';
}
