// The words of every message, per template, locale and variant: polite, friendly and professional,
// always with the borrower's name, the amount, the due date, the lender's contact number and how to
// opt out. Later overdue stages are firmer, never harsh or threatening.
import { DateTime } from 'luxon';
import type { Lender, Locale } from './loan';
import { formatAmount } from './money';
import type { TemplateId } from './policy';
import { smsSegments, type Segments } from './segments';
import type { Variant } from './variants';

export interface MessageFacts {
  template: TemplateId;
  variant: Variant;
  locale: Locale;
  borrowerName: string;
  honorific?: string;
  /** What is still owed, minor units (for a thank-you: what was repaid). */
  amount: number;
  /** True when part of the loan has been repaid and `amount` is what is left. */
  partlyPaid: boolean;
  currency: string;
  dueDate: string;
  lender: Lender;
}

export interface RenderedMessage extends Segments {
  body: string;
}

interface Vars {
  name: string;
  lender: string;
  amount: string;
  date: string;
  phone: string;
  partlyPaid: boolean;
}

type Core = (v: Vars) => string;

function address(name: string, honorific: string | undefined, locale: Locale): string {
  if (!honorific) return name;
  return locale === 'zh-CN' ? `${name}${honorific}` : `${honorific} ${name}`;
}

function formatDate(date: string, locale: Locale): string {
  const d = DateTime.fromISO(date);
  return locale === 'zh-CN' ? `${d.year}年${d.month}月${d.day}日` : d.setLocale('en-US').toFormat('MMMM d, yyyy');
}

const zhAmount = (v: Vars) => (v.partlyPaid ? `剩余应还金额为${v.amount}` : `还款金额为${v.amount}`);
const enAmount = (v: Vars) => (v.partlyPaid ? `the remaining ${v.amount}` : `your repayment of ${v.amount}`);

// Each template: the core sentence(s) in the standard wording, and in the gentle one.
const CORE: Record<Locale, Record<TemplateId, { standard: Core; gentle: Core }>> = {
  'zh-CN': {
    'pre-due': {
      standard: (v) => `温馨提醒：您在${v.lender}的${zhAmount(v)}，截止日期为${v.date}，请您提前做好还款安排。`,
      gentle: (v) => `温馨提醒：您在${v.lender}的${zhAmount(v)}，将于${v.date}到期，方便时请提前安排，谢谢。`,
    },
    due: {
      standard: (v) => `您在${v.lender}的${zhAmount(v)}，截止日期为${v.date}。请您尽快处理，以免产生额外费用。`,
      gentle: (v) => `您在${v.lender}的${zhAmount(v)}，今天（${v.date}）到期。方便时请安排还款，谢谢您。`,
    },
    overdue: {
      standard: (v) =>
        `您在${v.lender}的${zhAmount(v)}，已于${v.date}到期，目前尚未收到。请您尽快还款；如有困难，我们愿意与您一起商量解决办法。`,
      gentle: (v) =>
        `您在${v.lender}的${zhAmount(v)}，已于${v.date}到期。也许您最近比较忙，方便时请安排还款；如有困难，我们很乐意与您商量。`,
    },
    'overdue-followup': {
      standard: (v) =>
        `您在${v.lender}的${zhAmount(v)}，已于${v.date}到期，至今仍未结清。请您尽快还款，以免影响您的信用记录；如需分期或延期安排，请与我们联系。`,
      gentle: (v) =>
        `您在${v.lender}的${zhAmount(v)}，已于${v.date}到期。我们理解您可能遇到了困难，欢迎与我们联系，一起商量合适的还款安排。`,
    },
    'final-notice': {
      standard: (v) =>
        `您在${v.lender}的${zhAmount(v)}，自${v.date}到期至今仍未结清。这是我们的最后一条短信提醒，之后将由专人与您联系，协助您处理还款。`,
      gentle: (v) =>
        `您在${v.lender}的${zhAmount(v)}，自${v.date}到期至今仍未结清。之后将由专人与您联系，帮助您找到合适的还款方式。`,
    },
    'thank-you': {
      standard: (v) => `您在${v.lender}于${v.date}到期的借款已全部还清（共计${v.amount}）。感谢您的配合与支持！`,
      gentle: (v) => `您在${v.lender}于${v.date}到期的借款已全部还清（共计${v.amount}）。感谢您的信任与支持！`,
    },
  },
  'en-US': {
    'pre-due': {
      standard: (v) => `a friendly reminder from ${v.lender}: ${enAmount(v)} is due on ${v.date}. Please plan ahead.`,
      gentle: (v) => `just a note from ${v.lender}: ${enAmount(v)} will be due on ${v.date}, whenever you are ready.`,
    },
    due: {
      standard: (v) => `${enAmount(v)} to ${v.lender} is due today, ${v.date}. Please pay soon to avoid extra fees.`,
      gentle: (v) => `${enAmount(v)} to ${v.lender} is due today, ${v.date}. Please pay when you can.`,
    },
    overdue: {
      standard: (v) =>
        `${enAmount(v)} to ${v.lender} was due on ${v.date} and we have not received it yet. Please pay as soon as you can; if this is difficult, we will work out a plan with you.`,
      gentle: (v) =>
        `${enAmount(v)} to ${v.lender} was due on ${v.date}. If now is a hard time, we are glad to work out a plan with you.`,
    },
    'overdue-followup': {
      standard: (v) =>
        `${enAmount(v)} to ${v.lender}, due on ${v.date}, is still open. Please pay soon to protect your credit record; we can arrange instalments or more time.`,
      gentle: (v) =>
        `${enAmount(v)} to ${v.lender}, due on ${v.date}, is still open. We understand things happen; let us find a plan that works for you.`,
    },
    'final-notice': {
      standard: (v) =>
        `${enAmount(v)} to ${v.lender}, due on ${v.date}, is still open. This is our last text reminder; a member of our team will contact you to help settle it.`,
      gentle: (v) =>
        `${enAmount(v)} to ${v.lender}, due on ${v.date}, is still open. A member of our team will reach out to help you find a way forward.`,
    },
    'thank-you': {
      standard: (v) =>
        `your loan with ${v.lender}, due on ${v.date}, is fully repaid (${v.amount} in total). Thank you!`,
      gentle: (v) =>
        `your loan with ${v.lender}, due on ${v.date}, is fully repaid (${v.amount} in total). Thank you for your trust!`,
    },
  },
};

const FRAME: Record<
  Locale,
  { open: (n: string) => string; contact: (p: string) => string; close: Record<Variant, string>; optOut: string }
> = {
  'zh-CN': {
    open: (n) => `尊敬的${n}，您好！`,
    contact: (p) => `如有疑问，请拨打我们的客服热线：${p}。`,
    close: { A: '感谢您的配合！', B: '如您已还款，请忽略本短信。感谢您的配合！', gentle: '祝您生活顺利！' },
    optOut: '回复TD退订',
  },
  'en-US': {
    open: (n) => `Dear ${n}, `,
    contact: (p) => ` Questions? Call us at ${p}.`,
    close: {
      A: ' Thank you!',
      B: ' If you have already paid, please ignore this message. Thank you!',
      gentle: ' Take care!',
    },
    optOut: ' Reply STOP to opt out.',
  },
};

/**
 * The values a message is made of, for gateways (Aliyun, Tencent) that send pre-approved templates
 * filled with parameters rather than free text.
 */
export interface MessageParams {
  name: string;
  lender: string;
  amount: string;
  date: string;
  phone: string;
}

export function messageParams(f: MessageFacts): MessageParams {
  return {
    name: address(f.borrowerName, f.honorific, f.locale),
    lender: f.lender.name[f.locale],
    amount: formatAmount(f.amount, f.currency, f.locale),
    date: formatDate(f.dueDate, f.locale),
    phone: f.lender.contactPhone,
  };
}

export function renderMessage(f: MessageFacts): RenderedMessage & { params: MessageParams } {
  const frame = FRAME[f.locale];
  const params = messageParams(f);
  const vars: Vars = { ...params, partlyPaid: f.partlyPaid };
  const core = CORE[f.locale][f.template][f.variant === 'gentle' ? 'gentle' : 'standard'](vars);
  const isThanks = f.template === 'thank-you';
  const body =
    frame.open(vars.name) + core + frame.contact(vars.phone) + (isThanks ? '' : frame.close[f.variant]) + frame.optOut;
  return { body, params, ...smsSegments(body) };
}
