/**
 * Listening and closing HTTP(S) servers, shared by the API and the stand-ins; the connectors' HTTP
 * client settings.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';

/** A connector call's answer (its headers, then its body) must come within this. */
export const CALL_TIMEOUT_MS = 15_000;

/**
 * A connector's keep-alive connection pool, for undici's `request` (not `fetch`: the same HTTP without
 * the WHATWG Request/Response/stream layers, about half the client CPU per call; docs/performance.md).
 * `ca`: a CA to trust besides the system's (a stand-in's certificate in tests).
 */
export function connectorAgent(ca?: string): Agent {
  return new Agent({ keepAliveTimeout: 30_000, ...(ca ? { connect: { ca } } : {}) });
}

/** Starts `server` on host:port (0 = any free port) and resolves with the port it got. */
export function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Stops accepting, drops keep-alive connections, and resolves once the server is closed. */
export async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
