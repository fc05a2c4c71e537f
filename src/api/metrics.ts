// Prometheus metrics of the API, in a registry of its own per app (tests build several apps).
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'loan_reminders_api_' });
  return {
    registry,
    requestDuration: new Histogram({
      name: 'loan_reminders_http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    loansStarted: new Counter({
      name: 'loan_reminders_loans_started_total',
      help: 'Loans whose workflow this API started',
      registers: [registry],
    }),
    signals: new Counter({
      name: 'loan_reminders_signals_total',
      help: 'Signals and updates sent to loan workflows, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    errors: new Counter({
      name: 'loan_reminders_api_errors_total',
      help: 'Requests answered with an error, by status',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    auditWriteFailures: new Counter({
      name: 'loan_reminders_audit_write_failures_total',
      help: 'State-changing requests whose audit record could not be written',
      registers: [registry],
    }),
    smsCallbacksRejected: new Counter({
      name: 'loan_reminders_sms_callbacks_rejected_total',
      help: 'SMS gateway callbacks refused because their body is not in the provider’s format, by provider and kind',
      labelNames: ['provider', 'kind'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
