import {
  CONTROL_PLANE_VERSION,
  isCompatibleVersion,
  type TidewayApi,
  TidewayApiError,
  WORKER_PROTOCOL_VERSION,
} from '../protocol/index.js';
import { DEFAULT_ADDRESS, HttpTransport } from './http-transport.js';

/** How clients and workers reach Tideway: an address (HTTP) or an engine in this process. */
export interface ConnectionOptions {
  /** Server address; default TIDEWAY_ADDRESS, else http://127.0.0.1:7233. */
  address?: string;
  /** Bearer token; default TIDEWAY_TOKEN. */
  token?: string;
}

/** A link to Tideway that clients and workers share. */
export interface Connection {
  readonly api: TidewayApi;
  /** Where it points, for messages: an address, or 'in-process'. */
  readonly target: string;
}

/** Connects over HTTP and checks that the server speaks a compatible protocol. */
export async function connectHttp(
  options: ConnectionOptions = {},
  needs: 'client' | 'worker' = 'client',
): Promise<Connection> {
  const address = options.address ?? process.env.TIDEWAY_ADDRESS ?? DEFAULT_ADDRESS;
  const token = options.token ?? process.env.TIDEWAY_TOKEN;
  const api = new HttpTransport({ address, token });
  const connection = { api, target: api.address };
  await checkCompatible(connection, needs);
  return connection;
}

/** Refuses a server whose control-plane (clients) or worker-protocol (workers) major version differs. */
export async function checkCompatible(connection: Connection, needs: 'client' | 'worker'): Promise<void> {
  const info = await connection.api.clusterInfo();
  const [ours, theirs, label] =
    needs === 'worker'
      ? [WORKER_PROTOCOL_VERSION, info.workerProtocolVersion, 'worker protocol']
      : [CONTROL_PLANE_VERSION, info.controlPlaneVersion, 'control-plane protocol'];
  if (!isCompatibleVersion(ours, theirs)) {
    throw new TidewayApiError(
      'IncompatibleVersion',
      `the Tideway server at ${connection.target} (version ${info.serverVersion}) speaks ${label} ${theirs}, ` +
        `but this SDK speaks ${ours}; upgrade the SDK or the server so their major versions match`,
    );
  }
}
