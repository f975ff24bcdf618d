/**
 * Protocol versions. The control-plane version changes when client-facing
 * routes change incompatibly; the worker-protocol version when task shapes or
 * command/event semantics do. SDKs refuse a server whose major differs.
 */
export const CONTROL_PLANE_VERSION = '1.1';
export const WORKER_PROTOCOL_VERSION = '1.2';
export const SERVER_VERSION = '0.1.0';

/** The port a Tideway server listens on unless told otherwise. */
export const DEFAULT_PORT = 7233;

/** True when a peer speaking `theirs` can talk to us speaking `ours` (same major). */
export function isCompatibleVersion(ours: string, theirs: string): boolean {
  return ours.split('.')[0] === theirs.split('.')[0];
}
