/** Temporal connection and runtime set-up shared by the worker and the API server. */
import { readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import {
  NativeConnection,
  Runtime,
  type LogLevel,
  type LogMetadata,
  type Logger as TemporalLogger,
} from '@temporalio/worker';
import type { AppConfig } from '../config/env';
import { createDataConverter } from '../lib/codec';
import type { Logger } from '../lib/logger';

/** Adapts pino to Temporal's logger interface, so SDK, workflow and activity logs go through pino. */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly pino: Logger) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    // The per-system workers (workers/worker.ts) serve activities only, by design: the SDK's warning
    // about it would greet every `npm start` with noise.
    const intended = level === 'WARN' && message.startsWith('No workflows registered');
    const l = (intended ? 'debug' : level.toLowerCase()) as 'trace' | 'debug' | 'info' | 'warn' | 'error';
    this.pino[l](meta ?? {}, message);
  }
  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

let installed = false;
/**
 * Installs the Temporal runtime with the pino bridge (once per process; the first call's options win).
 * `metricsBind` (WORKER_METRICS_BIND, `ip:port`): the SDK's own metrics (workflow and activity task
 * latencies, slots, polls, cache, gRPC requests) are served for Prometheus at `http://<it>/metrics`,
 * under the SDK's own names (`temporal_*`), durations in seconds (docs/operations.md, "Metrics").
 */
export function installRuntime(logger: Logger, opts: { metricsBind?: string } = {}): void {
  if (installed) return;
  Runtime.install({
    logger: new PinoTemporalLogger(logger.child({ component: 'temporal' })),
    ...(opts.metricsBind
      ? {
          telemetryOptions: {
            metrics: {
              // The SDK's own metric names (docs.temporal.io), durations in seconds.
              prometheus: { bindAddress: opts.metricsBind, useSecondsForDurations: true },
            },
          },
        }
      : {}),
  });
  installed = true;
}

function tlsOptions(cfg: AppConfig) {
  if (cfg.TEMPORAL_TLS !== 'true' && !cfg.TEMPORAL_TLS_CERT_FILE) return undefined;
  if (cfg.TEMPORAL_TLS_CERT_FILE && cfg.TEMPORAL_TLS_KEY_FILE) {
    return {
      clientCertPair: {
        crt: readFileSync(cfg.TEMPORAL_TLS_CERT_FILE),
        key: readFileSync(cfg.TEMPORAL_TLS_KEY_FILE),
      },
    };
  }
  return true as const;
}

/**
 * The data converter of every Temporal client and worker of this configuration: payloads encrypted
 * with PAYLOAD_CODEC_KEYS, failure messages and stack traces encoded with them (lib/codec.ts). With
 * NODE_ENV=production an unencrypted inbound payload is refused.
 */
export function dataConverterFrom(
  cfg: Pick<AppConfig, 'PAYLOAD_CODEC_KEYS'> & Partial<Pick<AppConfig, 'NODE_ENV'>>,
): DataConverter {
  return createDataConverter(cfg.PAYLOAD_CODEC_KEYS, {
    refuseUnencrypted: cfg.NODE_ENV === 'production',
  });
}

/** Connection for workers (native). */
export function connectWorker(cfg: AppConfig): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: cfg.TEMPORAL_ADDRESS,
    tls: tlsOptions(cfg),
    apiKey: cfg.TEMPORAL_API_KEY,
  });
}

/** Connection for clients (server, CLI). Lazy: it does not fail if Temporal is down at start-up. */
export function connectClient(cfg: AppConfig): Connection {
  return Connection.lazy({
    address: cfg.TEMPORAL_ADDRESS,
    tls: tlsOptions(cfg),
    apiKey: cfg.TEMPORAL_API_KEY,
    connectTimeout: '3s',
  });
}
