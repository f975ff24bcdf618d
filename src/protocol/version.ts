/**
 * Protocol versions. The control-plane version changes when client-facing
 * routes change incompatibly; the worker-protocol version when task shapes or
 * command/event semantics do. SDKs refuse a server whose major differs.
 */
export const CONTROL_PLANE_VERSION = '1.2';
export const WORKER_PROTOCOL_VERSION = '1.2';
export const SERVER_VERSION = '0.1.0';

/** The port a Tideway server listens on unless told otherwise. */
export const DEFAULT_PORT = 7233;

/** True when a peer speaking `theirs` can talk to us speaking `ours` (same major). */
export function isCompatibleVersion(ours: string, theirs: string): boolean {
  return ours.split('.')[0] === theirs.split('.')[0];
}

/** True when a peer speaking `version` has what came in `since`: the same major, and at least its minor. */
export function hasVersion(version: string, since: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  const [sinceMajor, sinceMinor] = since.split('.').map(Number);
  return major === sinceMajor && (minor ?? 0) >= (sinceMinor ?? 0);
}
