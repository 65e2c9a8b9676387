/**
 * The codec endpoint (Temporal's remote codec protocol), so the Temporal Web UI and CLI can show
 * operators the payloads the workers encrypted: `POST /codec/decode` and `POST /codec/encode` take and
 * answer `{ "payloads": [{ "metadata": { key: base64 }, "data": base64 }] }`.
 *
 * Only operators may call it (any role): with `Authorization: Bearer <operator token>` (the CLI's
 * `--codec-auth`, scripts), or, from the Web UI in a browser, with the session cookie set by
 * `/codec/login` once the UI's "Include cross-origin credentials" setting is on (the UI's own "Pass
 * access token" forwards the UI's OIDC token, which is not an operator token).
 *
 * Browsers may call it only from `CODEC_CORS_ORIGINS` (the Web UI's origins): preflights from them are
 * answered with the headers the UI sends (`content-type`, `x-namespace`, `authorization`) and with
 * credentials allowed; any other origin is refused.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { PayloadDecryptionError } from '../lib/codec';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { createAuth, type TokenEntry } from './auth';
import { fieldErrors } from './hris';

export interface CodecEndpointOptions {
  /** Null when no PAYLOAD_CODEC_KEYS are configured: encode/decode answer 503. */
  codec: PayloadCodec | null;
  /** Browser origins allowed to call the endpoint (CODEC_CORS_ORIGINS). */
  allowedOrigins: readonly string[];
  /** Mark the session cookie `Secure` (the API is served over https). */
  secureCookies: boolean;
}

const COOKIE = 'offboard_codec';
const SESSION_HOURS = 8;
const ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
export const codecBody = z.object({
  payloads: z
    .array(
      z.object({
        metadata: z.record(z.string(), base64).nullish(),
        data: base64.nullish(),
      }),
    )
    .max(10_000),
});
type JsonPayload = z.infer<typeof codecBody>['payloads'][number];

function fromJson(p: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): { metadata: Record<string, string>; data: string } {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? []).toString('base64'),
  };
}

function cookieToken(req: Request): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === COOKIE && rest.length > 0) {
      try {
        return decodeURIComponent(rest.join('='));
      } catch {
        return null;
      }
    }
  }
  return null;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">${body}</body></html>`;
}

/** The `/codec` router: mount with `app.use('/codec', createCodecRouter(deps))`. */
export function createCodecRouter(deps: {
  operatorTokens: TokenEntry[];
  codec: CodecEndpointOptions;
  logger: Logger;
}): express.Router {
  const { codec, allowedOrigins, secureCookies } = deps.codec;
  const requireRole = createAuth(deps.operatorTokens);
  const anyOperator = requireRole('hr', 'it', 'itdesk');
  const router = express.Router();

  // CORS: only the Web UI's origins (and this API's own pages) may call from a browser.
  router.use((req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined) return next(); // not a browser's cross-origin call (CLI, curl)
    let sameOrigin = false;
    try {
      sameOrigin = new URL(origin).host === req.headers.host;
    } catch {
      /* "null" or garbage: not allowed below */
    }
    if (allowedOrigins.includes(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.append('vary', 'Origin');
    } else if (!sameOrigin) {
      throw new AppError(
        'forbidden',
        `origin ${origin} may not call the codec endpoint (CODEC_CORS_ORIGINS)`,
      );
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
      res.setHeader('access-control-allow-headers', ALLOWED_HEADERS);
      res.setHeader('access-control-max-age', '600');
      res.status(204).end();
      return;
    }
    next();
  });

  /** The Web UI sends no bearer token of ours: the session cookie stands in for it. */
  const operator = (req: Request, res: Response, next: NextFunction) => {
    if (!req.headers.authorization) {
      const token = cookieToken(req);
      if (token) req.headers.authorization = `Bearer ${token}`;
    }
    anyOperator(req, res, next);
  };

  const run = (direction: 'encode' | 'decode') => async (req: Request, res: Response) => {
    const body = codecBody.safeParse(req.body);
    if (!body.success)
      throw new AppError('validation_failed', 'body must be {"payloads": [{"metadata", "data"}]}', {
        fields: fieldErrors(body.error),
      });
    if (!codec)
      throw new AppError('unavailable', 'no payload codec is configured (PAYLOAD_CODEC_KEYS is not set)');
    let out: Payload[];
    try {
      out = await codec[direction](body.data.payloads.map(fromJson));
    } catch (e) {
      if (e instanceof PayloadDecryptionError) throw new AppError('bad_request', e.message);
      throw e;
    }
    (res.locals.log as Logger | undefined)?.debug(
      {
        operator: req.operator?.name,
        namespace: req.headers['x-namespace'],
        payloads: out.length,
        direction,
      },
      'codec request',
    );
    res.json({ payloads: out.map(toJson) });
  };

  const json = express.json({ limit: '8mb', type: () => true });
  router.post('/decode', operator, json, run('decode'));
  router.post('/encode', operator, json, run('encode'));

  // A browser session for the Web UI: the operator pastes their token once; an HttpOnly cookie
  // scoped to /codec carries it (SameSite=Strict: the UI must be served from the same site).
  router.get('/login', (_req, res) => {
    res.type('html').send(
      page(
        'Offboard codec sign-in',
        `<h1>Decode payloads in the Temporal Web UI</h1>
<p>Sign in with your Offboard operator token. The Web UI can then decode payloads through this server
once its Codec Server setting <b>Include cross-origin credentials</b> is on.</p>
<form method="post" action="login"><label>Operator token <input name="token" type="password" autocomplete="off" required></label>
<button type="submit">Sign in</button></form>`,
      ),
    );
  });
  router.post(
    '/login',
    express.urlencoded({ extended: false, limit: '4kb' }),
    (req, _res, next) => {
      const token = (req.body as { token?: unknown } | undefined)?.token;
      if (typeof token !== 'string' || token.trim() === '')
        throw new AppError('validation_failed', 'an operator token is required', {
          fields: [{ field: 'token', message: 'is required' }],
        });
      req.headers.authorization = `Bearer ${token.trim()}`;
      next();
    },
    anyOperator,
    (req, res) => {
      const token = req.headers.authorization!.slice('Bearer '.length);
      res.cookie(COOKIE, token, {
        httpOnly: true,
        sameSite: 'strict',
        secure: secureCookies,
        path: req.baseUrl || '/',
        maxAge: SESSION_HOURS * 3_600_000,
      });
      deps.logger.info({ operator: req.operator!.name }, 'codec session started');
      res
        .type('html')
        .send(
          page(
            'Signed in',
            `<p>Signed in as ${escapeHtml(req.operator!.name)} for ${SESSION_HOURS} hours. Return to the Temporal Web UI.</p>`,
          ),
        );
    },
  );
  router.post('/logout', (req, res) => {
    res.clearCookie(COOKIE, {
      path: req.baseUrl || '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: secureCookies,
    });
    res.status(204).end();
  });

  return router;
}
