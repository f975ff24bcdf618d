import type { z } from 'zod';
import { fastSafeParse } from '../protocol/fast-parse.js';
import { TidewayApiError } from '../protocol/index.js';

/**
 * Requests a transport has already checked against a schema, by the schema:
 * the HTTP server's direct routes check every body before the engine sees
 * it, and checking it again here would only repeat the work.
 */
const checkedBy = new WeakMap<object, z.ZodType>();

/** Records that `value` is the output of `schema` (what `schema.safeParse` returned as its data). */
export function markChecked(schema: z.ZodType, value: unknown): void {
  if (typeof value === 'object' && value !== null) checkedBy.set(value, schema);
}

/**
 * Validates a request with its protocol schema, so in-process callers get
 * the same 400 errors, worded the same, as HTTP callers.
 */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  if (typeof value === 'object' && value !== null && checkedBy.get(value) === schema) return value as z.output<S>;
  const result = fastSafeParse(schema, value);
  if (result.success) return result.data;
  throw new TidewayApiError('InvalidArgument', `invalid ${what}: ${describeIssues(result.error.issues)}`);
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}
