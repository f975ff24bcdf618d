import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A gateway in front of the server; `intercept` may answer a request itself (true) instead of passing it on. */
export async function startGateway(
  upstreamUrl: string,
  intercept: (req: http.IncomingMessage, res: http.ServerResponse, forward: () => http.ClientRequest) => boolean,
) {
  const upstream = new URL(upstreamUrl);
  const server = http.createServer((req, res) => {
    const forward = () => {
      const request = http.request({
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      });
      request.on('error', () => res.destroy());
      req.pipe(request);
      return request;
    };
    if (intercept(req, res, forward)) return;
    forward().on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
