import { z } from 'zod';

/** One environment variable at fault and why; never its value, which may be a secret. */
export interface ConfigIssue {
  variable: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((issue) => `  ${issue.variable}: ${issue.message}`).join('\n'),
    );
  }
}

type Env = Record<string, string | undefined>;

/**
 * Reads the variables the schema names from env and validates them once, at start.
 * An empty value counts as unset (compose files and k8s manifests often write `REDIS_URL=`),
 * so optional settings stay optional and defaults apply.
 */
export function loadConfig<Shape extends z.ZodRawShape>(
  schema: z.ZodObject<Shape>,
  env: Env = process.env,
): z.output<z.ZodObject<Shape>> {
  const input: Env = {};
  for (const variable of Object.keys(schema.shape)) {
    const value = env[variable];
    if (value !== undefined && value.trim() !== '') input[variable] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map(toConfigIssue));
}

function toConfigIssue(issue: z.ZodIssue): ConfigIssue {
  const variable = issue.path.length > 0 ? issue.path.join('.') : '(config)';
  if (issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined') {
    return { variable, message: 'is required but not set' };
  }
  // Zod's enum message repeats the received value; name the allowed ones instead.
  if (issue.code === z.ZodIssueCode.invalid_enum_value) {
    return { variable, message: `must be one of ${issue.options.join(', ')}` };
  }
  return { variable, message: issue.message };
}
