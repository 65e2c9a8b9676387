/**
 * The embedded SMTP server (`npm start`'s mail catcher, and the tests'): a sender that dies in the middle
 * of a message (a worker SIGKILLed while it sends) breaks its own connection, not the process that
 * serves the catcher; the next message is caught.
 */
import net from 'node:net';
import nodemailer from 'nodemailer';
import { MailCatcher } from '../embedded/mailcatcher';

/** Opens an SMTP session, starts a message and resets the connection in the middle of its data. */
async function dieMidMessage(port: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  const expectReply = async (code: string) => {
    for (let i = 0; i < 100 && !new RegExp(`^${code} `, 'm').test(received); i++)
      await new Promise((r) => setTimeout(r, 20));
    if (!new RegExp(`^${code} `, 'm').test(received)) throw new Error(`no ${code} in: ${received}`);
    received = '';
  };
  await expectReply('220');
  for (const [line, code] of [
    ['EHLO worker', '250'],
    ['MAIL FROM:<offboard@example.com>', '250'],
    ['RCPT TO:<someone@example.com>', '250'],
    ['DATA', '354'],
  ] as const) {
    socket.write(`${line}\r\n`);
    await expectReply(code);
  }
  socket.write('Subject: half a message\r\n\r\nthe sender dies here');
  await new Promise((r) => setTimeout(r, 50));
  socket.resetAndDestroy();
  await new Promise((r) => socket.once('close', r));
}

test('senders reset mid-message, twice: the catcher keeps serving and catches the next message', async () => {
  const mail = new MailCatcher();
  const port = await mail.start();
  try {
    await dieMidMessage(port);
    await dieMidMessage(port);
    // The server saw both connections break (Node would have thrown the second error otherwise).
    for (let i = 0; i < 50 && mail.clientErrors < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(mail.clientErrors).toBe(2);
    expect(mail.lastClientError).toMatch(/ECONNRESET/);
    const transport = nodemailer.createTransport({ url: mail.url } as never);
    await transport.sendMail({
      from: 'offboard@example.com',
      to: 'someone@example.com',
      subject: 'after the resets',
      text: 'still here',
    });
    expect(mail.messages.map((m) => m.subject)).toEqual(['after the resets']);
  } finally {
    await mail.stop();
  }
});
