/**
 * Intake floor (a): a bare node:http server that reads the body, verifies the Standard Webhooks
 * signature with the same library as the API and answers 202, storing nothing and starting nothing.
 * What HTTP + signature verification alone cost on this machine. Prints `READY <port>`.
 */
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const webhook = new Webhook(process.env.HRIS_WEBHOOK_SECRET!);
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      const event = webhook.verify(Buffer.concat(chunks), {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      }) as { employee?: { id?: string } };
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ departureId: `bare-${event.employee?.id ?? ''}`, action: 'accepted' }));
    } catch {
      res.writeHead(401).end();
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`READY ${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
