import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { checkBackwardCompatibility, type CompatibilityIssue } from './compatibility';
import { topicJsonSchema, type JsonSchema } from './json-schema';
import type { TopicDefinition } from './topic';

/** schemas/published/<topic>/v<N>.json, kept in the repo; same path from src/ and dist/. */
export const PUBLISHED_SCHEMAS_DIR = join(__dirname, '..', 'schemas', 'published');

export interface PublishedSchema {
  version: number;
  file: string;
  schema: JsonSchema;
}

export function publishedSchemaFile(topicName: string, version: number, dir = PUBLISHED_SCHEMAS_DIR): string {
  return join(dir, topicName, `v${version}.json`);
}

/** Kept versions of a topic's value schema, oldest first. */
export function readPublishedSchemas(topicName: string, dir = PUBLISHED_SCHEMAS_DIR): PublishedSchema[] {
  const topicDir = join(dir, topicName);
  if (!existsSync(topicDir)) return [];
  return readdirSync(topicDir)
    .map((name) => /^v(\d+)\.json$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => {
      const file = join(topicDir, m[0]);
      return { version: Number(m[1]), file, schema: JSON.parse(readFileSync(file, 'utf8')) as JsonSchema };
    })
    .sort((a, b) => a.version - b.version);
}

export type PublicationPlan =
  | { status: 'up-to-date'; version: number }
  | { status: 'new-version'; version: number; schema: JsonSchema }
  | {
      status: 'incompatible';
      version: number;
      incompatibleWith: Array<{ version: number; issues: CompatibilityIssue[] }>;
    };

/**
 * What publishing would do for a topic: nothing when the generated schema equals the latest
 * kept one, else a new version, unless it breaks a kept version (that needs a new topic version).
 */
export function planPublication(topic: TopicDefinition, kept: readonly PublishedSchema[]): PublicationPlan {
  const schema = topicJsonSchema(topic);
  const latest = kept[kept.length - 1];
  if (latest && isDeepStrictEqual(latest.schema, schema))
    return { status: 'up-to-date', version: latest.version };
  const version = (latest?.version ?? 0) + 1;
  const incompatibleWith = kept
    .map((k) => ({ version: k.version, issues: checkBackwardCompatibility(k.schema, schema) }))
    .filter((k) => k.issues.length > 0);
  if (incompatibleWith.length > 0) return { status: 'incompatible', version, incompatibleWith };
  return { status: 'new-version', version, schema };
}
