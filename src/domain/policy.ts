// A reminder policy is data: when to remind, inside which hours, how often at most, and what to do
// after the last reminder. Policies live as JSON files under policies/, validated by
// policy-schema.ts. The workflow imports only this file: its bundle then carries no validation
// library, which every new workflow instance would otherwise load again (see README, Performance).

/** A policy's id, which is also its file name under policies/. */
export const POLICY_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

export const TEMPLATE_IDS = ['pre-due', 'due', 'overdue', 'overdue-followup', 'final-notice', 'thank-you'] as const;
export type TemplateId = (typeof TEMPLATE_IDS)[number];
/** Reminders sent with these templates count as "overdue" for caps scoped to the overdue period. */
export const OVERDUE_TEMPLATES: ReadonlySet<TemplateId> = new Set(['overdue', 'overdue-followup', 'final-notice']);

export type { Policy, PolicyInput } from './policy-schema';
