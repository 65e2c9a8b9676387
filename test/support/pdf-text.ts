/** Text of a PDF for assertions (pdf-parse), shared by the tests that open the documents they check. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** Text of a PDF, whitespace collapsed (pdf.js runs in a plain Node process: it loads its worker by import()). */
export function pdfText(bytes: Uint8Array): string {
  const script = `
    const { PDFParse } = require('pdf-parse');
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', async () => {
      const parser = new PDFParse({ data: new Uint8Array(Buffer.concat(chunks)) });
      const r = await parser.getText();
      await parser.destroy();
      process.stdout.write(r.text);
    });`;
  const r = spawnSync(process.execPath, ['-e', script], {
    input: Buffer.from(bytes),
    cwd: path.resolve(__dirname, '..', '..'),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`pdf-parse failed: ${r.stderr}`);
  return r.stdout.replace(/\s+/g, ' ');
}
