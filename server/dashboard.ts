/**
 * The dashboard: static files in `server/dashboard/` served at `/dashboard` (the page signs in with an
 * operator token and talks to the JSON API). `/` redirects to it.
 *
 * The page is one HTML file, one script and one stylesheet, read from disk next to this module on each
 * request (small files; an edit shows on reload). Every answer carries a strict Content-Security-Policy
 * (own origin only, no inline script or style, no framing) and `cache-control: no-store`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Router, type Response } from 'express';

/** URL path -> file in `server/dashboard/` and its content type. */
const FILES: Record<string, { file: string; type: string }> = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** The dashboard's Content-Security-Policy: only this origin, no inline code, never inside a frame. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(res: Response): void {
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-security-policy', DASHBOARD_CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-frame-options', 'DENY');
}

/** Router serving the dashboard page and its assets. */
export function createDashboardRouter(dir = join(__dirname, 'dashboard')): Router {
  const r = Router();
  r.get('/', (_req, res) => res.redirect(302, '/dashboard'));
  for (const [path, { file, type }] of Object.entries(FILES)) {
    r.get(path, async (_req, res) => {
      const body = await readFile(join(dir, file));
      securityHeaders(res);
      res.setHeader('content-type', type);
      res.send(body);
    });
  }
  return r;
}
