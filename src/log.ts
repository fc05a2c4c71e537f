// Process logs as JSON lines (pino), and the Temporal SDK's own logs routed into them.
// Borrowers' names and phone numbers are never logged; the redaction below is a guard behind
// that rule for the keys they travel under.
import pino from 'pino';
import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/common';

export function createLogger(
  level: string = 'info',
  component = 'loan-reminders',
  destination?: pino.DestinationStream,
) {
  return pino(
    {
      level,
      base: { component },
      redact: {
        paths: ['borrower', '*.borrower', 'borrowerName', 'phone', '*.phone', 'to', '*.to', 'body', '*.body'],
        censor: '[redacted]',
      },
    },
    destination ?? pino.destination(1),
  );
}

export type Logger = ReturnType<typeof createLogger>;

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The SDK's logger interface, writing through pino so every process logs in one format. */
export function sdkLogger(log: Logger): SdkLogger {
  const emit = (level: LogLevel, message: string, meta?: LogMetadata) => log[LEVELS[level]](meta ?? {}, message);
  return {
    log: emit,
    trace: (m, meta) => emit('TRACE', m, meta),
    debug: (m, meta) => emit('DEBUG', m, meta),
    info: (m, meta) => emit('INFO', m, meta),
    warn: (m, meta) => emit('WARN', m, meta),
    error: (m, meta) => emit('ERROR', m, meta),
  };
}
