/**
 * The failure converter of every Temporal client, worker and workflow bundle (loaded by path, see
 * `createDataConverter` in `codec.ts`). With `encodeCommonAttributes` a failure's message and stack
 * trace travel in an encoded payload, which the payload codec encrypts: an error that quotes an email
 * address or a name never reaches Temporal's history in clear text.
 *
 * This module runs inside the workflow sandbox too: it imports only `@temporalio/common`.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
