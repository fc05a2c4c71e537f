// The words of each reminder, per stage and locale: polite, friendly, professional, and always
// carrying the borrower's name, the amount, the due date, a contact number and how to opt out.
import { DateTime } from 'luxon';
import type { Lender, Locale } from './loan';
import { formatAmount } from './money';
import type { Stage } from './schedule';

export interface ReminderFacts {
  stage: Stage;
  locale: Locale;
  borrowerName: string;
  /** What is still owed, minor units. */
  outstanding: number;
  currency: string;
  dueDate: string;
  lender: Lender;
}

function formatDate(date: string, locale: Locale): string {
  const d = DateTime.fromISO(date);
  return locale === 'zh-CN' ? `${d.year}年${d.month}月${d.day}日` : d.setLocale('en-US').toFormat('MMMM d, yyyy');
}

type Render = (v: { name: string; lender: string; amount: string; date: string; phone: string }) => string;

const TEMPLATES: Record<Locale, Record<Stage, Render>> = {
  'zh-CN': {
    'pre-due': (v) =>
      `尊敬的${v.name}，您好！温馨提醒：您在${v.lender}的还款金额为${v.amount}，截止日期为${v.date}，距今还有7天，请您提前做好安排。如有疑问，请拨打我们的客服热线：${v.phone}。感谢您的配合！回复TD退订`,
    due: (v) =>
      `尊敬的${v.name}，您好！您在${v.lender}的还款金额为${v.amount}，截止日期为${v.date}。请您尽快处理，以免产生额外费用。如有疑问，请拨打我们的客服热线：${v.phone}。感谢您的配合！回复TD退订`,
    overdue: (v) =>
      `尊敬的${v.name}，您好！您在${v.lender}的还款${v.amount}已于${v.date}到期，目前尚未收到。请您尽快还款，如有困难，欢迎致电客服热线${v.phone}，我们愿意与您一起商量解决办法。感谢您的理解与配合！回复TD退订`,
  },
  'en-US': {
    'pre-due': (v) =>
      `Dear ${v.name}, this is a friendly reminder from ${v.lender}: your repayment of ${v.amount} is due on ${v.date}, one week from today. Questions? Call us at ${v.phone}. Thank you! Reply STOP to opt out.`,
    due: (v) =>
      `Dear ${v.name}, your repayment of ${v.amount} to ${v.lender} is due today, ${v.date}. Please pay soon to avoid extra fees. Questions? Call us at ${v.phone}. Thank you! Reply STOP to opt out.`,
    overdue: (v) =>
      `Dear ${v.name}, your repayment of ${v.amount} to ${v.lender} was due on ${v.date} and we have not received it yet. Please pay as soon as you can; if you are having difficulty, call us at ${v.phone} and we will work out a plan together. Thank you. Reply STOP to opt out.`,
  },
};

export function renderReminder(f: ReminderFacts): string {
  return TEMPLATES[f.locale][f.stage]({
    name: f.borrowerName,
    lender: f.lender.name[f.locale],
    amount: formatAmount(f.outstanding, f.currency, f.locale),
    date: formatDate(f.dueDate, f.locale),
    phone: f.lender.contactPhone,
  });
}
