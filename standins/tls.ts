/** A throw-away self-signed TLS certificate for the HTTPS stand-ins (localhost and 127.0.0.1). */
import selfsigned from 'selfsigned';

export interface TlsMaterial {
  key: string;
  /** PEM certificate; also the CA a client must trust. */
  cert: string;
}

export function generateTlsMaterial(): TlsMaterial {
  const pems = selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    days: 365,
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
