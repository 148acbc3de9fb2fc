import { classifySmtpError } from './smtp-sender';

/** An error shaped as nodemailer's SMTPConnection._formatError builds it. */
function smtpError(message: string, code: string, response: string | false, command: string): Error {
  const err = new Error(response ? `${message}: ${response}` : message) as Error & Record<string, unknown>;
  err.code = code;
  if (response) {
    err.response = response;
    const responseCode = Number(/^\d+/.exec(response)?.[0]);
    if (responseCode) err.responseCode = responseCode;
  }
  err.command = command;
  return err;
}

describe('classifySmtpError', () => {
  it.each([
    [
      421,
      smtpError('Connection closed unexpectedly', 'ECONNECTION', '421 4.3.2 Service shutting down', 'CONN'),
    ],
    [451, smtpError('Message failed', 'EMESSAGE', '451 4.3.0 Temporary local problem', 'DATA')],
    [454, smtpError('Invalid login', 'EAUTH', '454 4.7.0 Temporary authentication failure', 'AUTH PLAIN')],
    [450, smtpError('Recipient command failed', 'EENVELOPE', '450 4.2.1 Mailbox busy', 'RCPT TO')],
  ])('a %i is deferred with its code', (code, error) => {
    const outcome = classifySmtpError(error);
    expect(outcome).toEqual({
      kind: 'deferred',
      smtpCode: code,
      reason: expect.stringContaining(String(code)),
    });
  });

  it.each([
    [
      550,
      smtpError(
        "Can't send mail - all recipients were rejected",
        'EENVELOPE',
        '550 5.1.1 No such user',
        'RCPT TO',
      ),
    ],
    [552, smtpError('Message failed', 'EMESSAGE', '552 message exceeds the maximum size', 'DATA')],
    [554, smtpError('Message failed', 'EMESSAGE', '554 5.7.1 Message rejected as spam', 'DATA')],
  ])('a %i for the recipient or the message is bounced with its code and the reply', (code, error) => {
    const outcome = classifySmtpError(error);
    expect(outcome.kind).toBe('bounced');
    expect(outcome.smtpCode).toBe(code);
    expect(outcome.reason).toContain((error as Error & { response: string }).response);
  });

  it.each([
    [
      'MAIL FROM',
      smtpError('Mail command failed', 'EENVELOPE', '553 5.7.1 Sender address rejected', 'MAIL FROM'),
      553,
    ],
    ['AUTH', smtpError('Invalid login', 'EAUTH', '535 5.7.8 Authentication failed', 'AUTH PLAIN'), 535],
    ['the greeting', smtpError('Invalid greeting', 'EPROTOCOL', '554 No SMTP service here', 'CONN'), 554],
  ])('a 5xx at %s is not about the recipient: deferred, not bounced', (_stage, error, code) => {
    expect(classifySmtpError(error)).toEqual({
      kind: 'deferred',
      smtpCode: code,
      reason: expect.any(String),
    });
  });

  it('ECONNREFUSED (a socket error nodemailer relabels ESOCKET) is deferred without a code', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      errno: -111,
      syscall: 'connect',
      address: '127.0.0.1',
      port: 1,
      code: 'ESOCKET',
      command: 'CONN',
    });
    expect(classifySmtpError(refused)).toEqual({
      kind: 'deferred',
      reason: expect.stringContaining('ECONNREFUSED'),
    });
    const raw = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifySmtpError(raw)).toEqual({
      kind: 'deferred',
      reason: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('ETIMEDOUT (connection, greeting or socket timeout) is deferred without a code', () => {
    const greeting = smtpError('Greeting never received', 'ETIMEDOUT', false, 'CONN');
    expect(classifySmtpError(greeting)).toEqual({
      kind: 'deferred',
      reason: 'ETIMEDOUT at CONN: Greeting never received',
    });
    expect(classifySmtpError(smtpError('Timeout', 'ETIMEDOUT', false, 'CONN')).kind).toBe('deferred');
  });

  it('TLS, DNS and unexpected errors are deferred: nothing is lost', () => {
    expect(classifySmtpError(smtpError('Error initiating TLS', 'ETLS', false, 'STARTTLS')).kind).toBe(
      'deferred',
    );
    expect(classifySmtpError(smtpError('getaddrinfo ENOTFOUND x.invalid', 'EDNS', false, 'CONN')).kind).toBe(
      'deferred',
    );
    expect(classifySmtpError(new Error('Connection pool was closed'))).toEqual({
      kind: 'deferred',
      reason: 'Connection pool was closed',
    });
    expect(classifySmtpError('boom')).toEqual({ kind: 'deferred', reason: 'boom' });
  });
});
