// What email needs of a contact, read from Segment identify traits and context: the address, a
// name for the To header, the time zone (quiet hours) and the locale.
import type { ContactIdentified } from '@cmis/contracts';
import { z } from 'zod';

export interface ContactIdentity {
  address?: string;
  name?: string;
  timeZone?: string;
  locale?: string;
}

const Email = z.string().trim().toLowerCase().email().max(320);

function text(value: unknown, max = 200): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, max) : undefined;
}

function validTimeZone(tz: string | undefined): string | undefined {
  if (tz === undefined) return undefined;
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return tz;
  } catch {
    return undefined;
  }
}

/** Traits win over context (Segment puts timezone and locale in context); bad values are ignored. */
export function identityOf(event: Pick<ContactIdentified, 'traits' | 'context'>): ContactIdentity {
  const { traits, context } = event;
  const parsed = Email.safeParse(traits.email);
  const first = text(traits.firstName ?? traits.first_name);
  const last = text(traits.lastName ?? traits.last_name);
  const name = text(traits.name) ?? ([first, last].filter(Boolean).join(' ') || undefined);
  return {
    ...(parsed.success ? { address: parsed.data } : {}),
    ...(name ? { name } : {}),
    ...withDefined('timeZone', validTimeZone(text(traits.timezone) ?? text(context.timezone))),
    ...withDefined('locale', text(traits.locale, 35) ?? text(context.locale, 35)),
  };
}

function withDefined<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
