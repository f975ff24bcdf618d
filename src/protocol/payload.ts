import { z } from 'zod';

/**
 * Every user value crosses the wire in an envelope, so codecs (compression,
 * encryption) can wrap `data` without the server understanding it.
 */
export const PayloadSchema = z
  .object({
    encoding: z.string().min(1).max(100),
    data: z.unknown(),
  })
  .meta({ id: 'Payload' });
export type Payload = z.infer<typeof PayloadSchema>;

export const JSON_ENCODING = 'json/plain';

export function toPayload(value: unknown): Payload {
  return { encoding: JSON_ENCODING, data: value === undefined ? null : value };
}

export function fromPayload<T = unknown>(payload: Payload | undefined | null): T {
  if (payload == null) return undefined as T;
  if (payload.encoding !== JSON_ENCODING) {
    throw new Error(`cannot decode payload with encoding "${payload.encoding}"; register a codec for it`);
  }
  return payload.data as T;
}

export function toPayloads(values: readonly unknown[]): Payload[] {
  return values.map(toPayload);
}

export function fromPayloads(payloads: readonly Payload[] | undefined): unknown[] {
  return (payloads ?? []).map((p) => fromPayload(p));
}
