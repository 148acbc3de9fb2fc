import { z } from 'zod';

export const DAY_MS = 24 * 60 * 60 * 1000;

export const Timestamp = z.string().datetime({ offset: true });
export const Uuid = z.string().uuid();
export const NonEmpty = z.string().min(1);
/** A free-form JSON object (Segment properties, traits, context). */
export const JsonObject = z.record(z.unknown());
