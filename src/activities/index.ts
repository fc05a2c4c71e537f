// Side effects the loan workflow asks for. Built from their dependencies so tests and the
// worker wire the same code to different providers.
import { ApplicationFailure, log } from '@temporalio/activity';
import type { OperationsItem, OperationsQueue } from '../operations/queue';
import { InvalidPhoneNumberError, type OutgoingSms, type SmsProvider, type SmsReceipt } from '../sms/provider';

export interface ActivityDeps {
  sms: SmsProvider;
  operations: OperationsQueue;
}

export function createActivities({ sms, operations }: ActivityDeps) {
  return {
    async sendSms(message: OutgoingSms): Promise<SmsReceipt> {
      try {
        const receipt = await sms.send(message);
        log.info(receipt.duplicate ? 'SMS already sent; not sent again' : 'SMS sent', {
          loanId: message.loanId,
          stage: message.stage,
          provider: sms.name,
          messageId: receipt.messageId,
        });
        return receipt;
      } catch (err) {
        if (err instanceof InvalidPhoneNumberError) {
          throw ApplicationFailure.nonRetryable(err.message, err.name);
        }
        throw err;
      }
    },

    async notifyOperations(item: OperationsItem): Promise<{ filedAt: string }> {
      const { filedAt, duplicate } = await operations.file(item);
      if (!duplicate) log.info('Handed to operations', { loanId: item.loanId, kind: item.kind });
      return { filedAt };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
