// The workflows this worker runs; the worker bundles this file.
export * from './loan-reminder';
export { deliverWebhook } from './webhooks';
