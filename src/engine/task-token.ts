import { TidewayApiError } from '../protocol/index.js';

/**
 * Task tokens name one lease of one task. They are opaque to workers; the
 * lease id inside makes a completion from an expired lease fail cleanly.
 */
export type TaskToken =
  | { kind: 'workflow'; namespace: string; runId: string; leaseId: string }
  | { kind: 'activity'; namespace: string; runId: string; scheduledEventId: number; leaseId: string }
  | { kind: 'query'; namespace: string; queryId: string };

export function encodeTaskToken(token: TaskToken): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

export function decodeTaskToken<K extends TaskToken['kind']>(
  raw: string,
  kind: K,
  namespace: string,
): Extract<TaskToken, { kind: K }> {
  let token: TaskToken;
  try {
    token = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw new TidewayApiError(
      'InvalidArgument',
      'malformed task token: pass the taskToken exactly as the poll returned it',
    );
  }
  const wellFormed =
    token?.kind === 'query'
      ? typeof token.queryId === 'string'
      : typeof token?.runId === 'string' && typeof token.leaseId === 'string';
  if (token?.kind !== kind || !wellFormed) {
    throw new TidewayApiError('InvalidArgument', `task token is not a ${kind} task token`);
  }
  if (token.namespace !== namespace) {
    throw new TidewayApiError(
      'InvalidArgument',
      `task token belongs to namespace "${token.namespace}", not "${namespace}"`,
    );
  }
  return token as Extract<TaskToken, { kind: K }>;
}
