import type { z } from 'zod';
import { TidewayApiError } from '../protocol/index.js';

/**
 * Validates a request with its protocol schema, so in-process callers get
 * the same 400 errors, worded the same, as HTTP callers.
 */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new TidewayApiError('InvalidArgument', `invalid ${what}: ${describeIssues(result.error.issues)}`);
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}
