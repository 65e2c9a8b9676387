/**
 * The dashboard: static files in `server/dashboard/` served at `/dashboard` (the page signs in with an
 * operator token and talks to the JSON API). `/` redirects to it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Router } from 'express';

const FILES: Record<string, string> = {
  '/dashboard': 'index.html',
};

/** Router serving the dashboard page and its assets. */
export function createDashboardRouter(): Router {
  const r = Router();
  r.get('/', (_req, res) => res.redirect(302, '/dashboard'));
  for (const [path, file] of Object.entries(FILES)) {
    r.get(path, (_req, res) => {
      res.setHeader('cache-control', 'no-store');
      res.type(file.split('.').pop()!).send(readFileSync(join(__dirname, 'dashboard', file)));
    });
  }
  return r;
}
