/**
 * Helpers of the hostile-input tests (test/hostile.*.test.ts): a raw HTTP/1.1 client that writes the
 * request bytes as given (so headers can carry what `fetch` refuses to send: raw UTF-8, CR/LF, NUL),
 * and the answer checks every refusal must pass.
 */
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The body as JSON, or null when it is not JSON (e.g. Node's own 400 for an unparseable request). */
  json: Record<string, unknown> | null;
}

/**
 * Sends one request over a fresh connection and reads the answer until the server closes it. Header
 * values may be strings (sent as UTF-8) or raw bytes; nothing is validated or escaped.
 */
export function rawRequest(
  baseUrl: string,
  req: {
    method: string;
    path: string;
    headers?: [string, string | Buffer][];
    body?: string | Buffer;
  },
): Promise<RawAnswer> {
  const u = new URL(baseUrl);
  const body = req.body === undefined ? null : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body);
  const head: Buffer[] = [Buffer.from(`${req.method} ${req.path} HTTP/1.1\r\nHost: ${u.host}\r\n`)];
  for (const [name, value] of req.headers ?? [])
    head.push(
      Buffer.from(`${name}: `),
      Buffer.isBuffer(value) ? value : Buffer.from(value),
      Buffer.from('\r\n'),
    );
  if (body) head.push(Buffer.from(`Content-Length: ${body.length}\r\n`));
  head.push(Buffer.from('Connection: close\r\n\r\n'));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port) });
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no answer to ${req.method} ${req.path}`)));
    socket.on('data', (c: Buffer) => chunks.push(c));
    // The server may close before it has read a refused body (EPIPE/ECONNRESET): the answer, if any, counts.
    socket.on('error', (e) => (chunks.length ? undefined : reject(e)));
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      if (split < 0) return reject(new Error(`no HTTP answer to ${req.method} ${req.path}`));
      const [statusLine, ...lines] = all.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const text = all.subarray(split + 4).toString('utf8');
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        /* not JSON */
      }
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0),
        headers,
        body: text,
        json,
      });
    });
    socket.write(Buffer.concat([...head, ...(body ? [body] : [])]));
  });
}

export interface ApiError {
  code: string;
  message: string;
  fields?: { field: string; message: string }[];
}

/** The API's error body (`{ error: { code, message, fields? } }`); fails the test when it is not one. */
export function errorOf(json: unknown): ApiError {
  const e = (json as { error?: ApiError } | null)?.error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string' || !e.message)
    throw new Error(`not an API error body: ${JSON.stringify(json)?.slice(0, 300)}`);
  // A clear message, never a stack trace or an internal error leaking through.
  if (/\n\s+at |Prisma|ZodError|TypeError|ReferenceError/.test(e.message))
    throw new Error(`the error message leaks internals: ${e.message.slice(0, 300)}`);
  for (const f of e.fields ?? [])
    if (typeof f.field !== 'string' || !f.field || typeof f.message !== 'string' || !f.message)
      throw new Error(`a field error without field or message: ${JSON.stringify(f)}`);
  return e;
}
