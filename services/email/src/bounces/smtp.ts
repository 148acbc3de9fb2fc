// SMTP replies as providers and MTAs quote them: "smtp; 550 5.1.1 user unknown" and the like.

/** The text after a diagnostic type ("smtp;", "X-Postfix;"), whitespace collapsed. */
export function diagnosticText(diagnostic: string): string {
  return diagnostic
    .replace(/^\s*[a-z][a-z0-9-]*\s*;\s*/i, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The basic reply code (550) a diagnostic starts with, if it starts with one. */
export function smtpReplyCode(diagnostic: string | undefined): number | undefined {
  if (!diagnostic) return undefined;
  const match = /^([2-5]\d\d)(?:[\s-]|$)/.exec(diagnosticText(diagnostic));
  return match ? Number(match[1]) : undefined;
}

/** The class digit of an enhanced status code (RFC 3463): "5.1.1" → 5. */
export function statusClass(status: string | undefined): 2 | 4 | 5 | undefined {
  const match = /^\s*([245])\.\d{1,3}\.\d{1,3}/.exec(status ?? '');
  return match ? (Number(match[1]) as 2 | 4 | 5) : undefined;
}

/** Permanent by the enhanced status when there is one, else by the reply code; unknown is not. */
export function isPermanentFailure(status: string | undefined, smtpCode: number | undefined): boolean {
  const klass = statusClass(status);
  return klass !== undefined ? klass === 5 : smtpCode !== undefined && smtpCode >= 500;
}
