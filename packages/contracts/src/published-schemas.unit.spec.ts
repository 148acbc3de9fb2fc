import { checkBackwardCompatibility } from './compatibility';
import { allTopics } from './catalog';
import { topicJsonSchema } from './json-schema';
import { planPublication, readPublishedSchemas, type PublishedSchema } from './published-schemas';

const PUBLISH = 'run `pnpm --filter @cmis/contracts schemas:publish` and commit schemas/published/';

describe.each(allTopics().map((t) => [t.name, t] as const))('published value schema of %s', (_, topic) => {
  const kept = readPublishedSchemas(topic.name);
  const current = topicJsonSchema(topic);

  it('is kept in the repo', () => {
    if (kept.length === 0) throw new Error(`no published schema for ${topic.name}: ${PUBLISH}`);
  });

  it('is not stale: the latest kept version is the schema the code generates', () => {
    const plan = planPublication(topic, kept);
    if (plan.status !== 'up-to-date') {
      throw new Error(`${topic.name}: the schema changed since v${kept.at(-1)?.version ?? 0}: ${PUBLISH}`);
    }
    expect(plan.version).toBe(topic.schemaVersion);
  });

  it.each(kept.map((k) => [k.version, k] as const))(
    'stays backward compatible with v%i',
    (_, k: PublishedSchema) => {
      const issues = checkBackwardCompatibility(k.schema, current);
      const listed = issues.map((i) => `${i.kind} at ${i.path}: ${i.message}`).join('\n  ');
      if (issues.length > 0) {
        throw new Error(
          `${topic.name} breaks consumers of v${k.version} (publish a new topic version instead):\n  ${listed}`,
        );
      }
    },
  );
});

describe('planPublication', () => {
  const topic = allTopics()[0]!;
  const current = topicJsonSchema(topic);
  const keptAs = (schema: PublishedSchema['schema']): PublishedSchema[] => [
    { version: 1, file: 'v1.json', schema },
  ];
  /** A copy of the current schema with the org-created payload schema changed by `change`. */
  function withOrgCreated(change: (data: { required: string[]; properties: { name: object } }) => void) {
    const copy = structuredClone(current) as { anyOf: Array<{ properties: { data: never } }> };
    change(copy.anyOf[0]!.properties.data);
    return copy;
  }

  it('adds nothing while the schema is unchanged', () => {
    expect(planPublication(topic, keptAs(current))).toEqual({ status: 'up-to-date', version: 1 });
  });

  it('adds the next version for a compatible change', () => {
    const stricter = withOrgCreated((data) => Object.assign(data.properties.name, { maxLength: 10 }));
    expect(planPublication(topic, keptAs(stricter))).toEqual({
      status: 'new-version',
      version: 2,
      schema: current,
    });
    expect(planPublication(topic, [])).toEqual({ status: 'new-version', version: 1, schema: current });
  });

  it('refuses a change that breaks a kept version', () => {
    const nameOptional = withOrgCreated((data) => (data.required = ['orgId']));
    expect(planPublication(topic, keptAs(nameOptional))).toMatchObject({
      status: 'incompatible',
      incompatibleWith: [
        {
          version: 1,
          issues: [{ kind: 'property-newly-required', path: '/anyOf/0/properties/data/properties/name' }],
        },
      ],
    });
  });
});
