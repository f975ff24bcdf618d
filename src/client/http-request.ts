import http from 'node:http';
import https from 'node:https';

/*
 * One JSON request over Node's own HTTP client, on kept-alive connections.
 * The global `fetch` of Node 20 (undici behind WHATWG streams and request
 * objects) cost a client about 0.6 ms of CPU per request in profiles of
 * server mode, more than the server spent on the request's database work;
 * a worker makes several requests per workflow, a client two (the start and
 * the result). `node:http` does the same exchange for a fraction of that.
 */

/** What came back: the status and the body as text. */
export interface HttpReply {
  status: number;
  text: string;
}

export interface HttpRequestOptions {
  method: string;
  headers: Record<string, string>;
  body?: string | undefined;
  signal?: AbortSignal | undefined;
  /**
   * Reads a successful answer as newline-delimited JSON: each line as it arrives (the reply's text is then
   * empty). An error answer is read whole, as always.
   */
  onLine?: ((line: string) => void) | undefined;
}

/** Connections to one server, kept open between requests (a worker's long-polls each hold one). */
export function keepAliveAgent(url: URL): http.Agent {
  const options = { keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 256 };
  return url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}

/**
 * Sends a request and reads the whole reply. Rejects on a connection error,
 * or with the signal's reason once it is aborted (the request is destroyed).
 */
export async function httpRequest(url: URL, agent: http.Agent, options: HttpRequestOptions): Promise<HttpReply> {
  try {
    return await sendOnce(url, agent, options);
  } catch (error) {
    // A kept-alive connection the server closed as idle just as this request went out: the server never
    // read the request, so sending it again on a new connection is safe (Node's documented pattern).
    if (!(error instanceof ReusedSocketClosed)) throw error;
    return sendOnce(url, agent, options);
  }
}

/** A request sent on a reused connection that turned out to be closed. */
class ReusedSocketClosed extends Error {}

function sendOnce(url: URL, agent: http.Agent, options: HttpRequestOptions): Promise<HttpReply> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const send = url.protocol === 'https:' ? https.request : http.request;
  return new Promise<HttpReply>((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    const body = options.body === undefined ? undefined : Buffer.from(options.body, 'utf8');
    if (body) headers['content-length'] = body.length;
    let responded = false;
    const request = send(url, { method: options.method, headers, agent }, (response) => {
      responded = true;
      const status = response.statusCode ?? 0;
      const { onLine } = options;
      const chunks: Buffer[] = [];
      let partial = '';
      if (onLine && status >= 200 && status < 300) {
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const lines = (partial + chunk).split('\n');
          partial = lines.pop()!;
          try {
            for (const line of lines) if (line) onLine(line);
          } catch (error) {
            // Thrown out of a stream's handler it would take the process down: the request fails instead.
            request.destroy(error as Error);
          }
        });
      } else response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        try {
          if (partial) onLine?.(partial);
        } catch (error) {
          reject(error);
          return;
        }
        resolve({ status, text: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', fail);
    });
    function fail(error: Error & { code?: string }) {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(signal.reason);
      else if (request.reusedSocket && !responded && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
        reject(new ReusedSocketClosed(error.message, { cause: error }));
      } else reject(error);
    }
    function onAbort() {
      request.destroy();
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', fail);
    request.end(body);
  });
}
