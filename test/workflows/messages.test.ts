import { describe, expect, it } from 'vitest';
import { loanReminder } from '../../src/workflows/loan-reminder';
import { LOAN_WORKFLOW_TYPE } from '../../src/workflows/messages';

describe('the loan workflow’s messages', () => {
  it('name the workflow type the API starts and lists by, which is the workflow function’s name', () => {
    expect(loanReminder.name).toBe(LOAN_WORKFLOW_TYPE);
  });
});
