import { describe, expect, it } from 'vitest';
import type { Lender, Locale } from '../../src/domain/loan';
import { formatAmount } from '../../src/domain/money';
import { TEMPLATE_IDS, type TemplateId } from '../../src/domain/policy';
import { isOptOutReply, replyMeaning } from '../../src/domain/replies';
import { smsSegments } from '../../src/domain/segments';
import { renderMessage } from '../../src/domain/templates';
import { abVariant, type Variant } from '../../src/domain/variants';

const lender: Lender = { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' };

describe('renderMessage', () => {
  it("reads as the brief's due-day example for Mr Zhang, with an opt-out hint", () => {
    const m = renderMessage({
      template: 'due',
      variant: 'A',
      locale: 'zh-CN',
      borrowerName: '张',
      honorific: '先生',
      amount: 500000,
      partlyPaid: false,
      currency: 'CNY',
      dueDate: '2024-10-30',
      lender,
    });
    expect(m.body).toBe(
      '尊敬的张先生，您好！您在锦程金融的还款金额为5000元，截止日期为2024年10月30日。请您尽快处理，以免产生额外费用。如有疑问，请拨打我们的客服热线：4001234567。感谢您的配合！回复TD退订',
    );
    expect(m).toMatchObject({ encoding: 'UCS-2', segments: 2 });
  });

  const cases: Array<[TemplateId, Locale, Variant]> = [];
  for (const t of TEMPLATE_IDS)
    for (const l of ['zh-CN', 'en-US'] as const) for (const v of ['A', 'B', 'gentle'] as const) cases.push([t, l, v]);

  it.each(cases)(
    '%s / %s / %s carries name, amount, due date, contact number and opt-out, and no threat',
    (template, locale, variant) => {
      const m = renderMessage({
        template,
        variant,
        locale,
        borrowerName: locale === 'zh-CN' ? '李' : 'Rivera',
        honorific: locale === 'zh-CN' ? '女士' : 'Ms',
        amount: 123450,
        partlyPaid: false,
        currency: locale === 'zh-CN' ? 'CNY' : 'USD',
        dueDate: '2025-01-05',
        lender,
      });
      const expected =
        locale === 'zh-CN'
          ? ['李女士', '1234.50元', '2025年1月5日', '4001234567', '回复TD退订', '锦程金融', '尊敬的']
          : [
              'Ms Rivera',
              '$1,234.50',
              'January 5, 2025',
              '4001234567',
              'Reply STOP to opt out',
              'Jincheng Finance',
              'Dear',
            ];
      for (const part of expected) expect(m.body).toContain(part);
      for (const harsh of [
        '起诉',
        '法院',
        '后果自负',
        '催收',
        '曝光',
        'lawsuit',
        'court',
        'arrest',
        'police',
        'consequences',
      ]) {
        expect(m.body).not.toContain(harsh);
      }
      expect(m.segments).toBe(smsSegments(m.body).segments);
    },
  );

  it('states what is left after a partial payment', () => {
    const m = renderMessage({
      template: 'overdue',
      variant: 'A',
      locale: 'en-US',
      borrowerName: 'Rivera',
      amount: 50000,
      partlyPaid: true,
      currency: 'USD',
      dueDate: '2025-01-05',
      lender,
    });
    expect(m.body).toContain('the remaining $500.00');
  });
});

describe('smsSegments', () => {
  it('counts GSM-7 at 160/153 septets (extension characters take two) and UCS-2 at 70/67', () => {
    expect(smsSegments('a'.repeat(160))).toMatchObject({ encoding: 'GSM-7', segments: 1 });
    expect(smsSegments('a'.repeat(161)).segments).toBe(2);
    expect(smsSegments('a'.repeat(306)).segments).toBe(2);
    expect(smsSegments('a'.repeat(307)).segments).toBe(3);
    expect(smsSegments('€'.repeat(80)).segments).toBe(1);
    expect(smsSegments('€'.repeat(81)).segments).toBe(2);
    expect(smsSegments('好'.repeat(70))).toMatchObject({ encoding: 'UCS-2', segments: 1 });
    expect(smsSegments('好'.repeat(71)).segments).toBe(2);
    expect(smsSegments('好'.repeat(134)).segments).toBe(2);
    expect(smsSegments('好'.repeat(135)).segments).toBe(3);
  });
});

describe('A/B variants', () => {
  it('are fixed by the loan id and split loans about evenly', () => {
    expect(abVariant('L-1001')).toBe(abVariant('L-1001'));
    const ids = Array.from({ length: 2000 }, (_, i) => `L-${i}`);
    const a = ids.filter((id) => abVariant(id) === 'A').length;
    expect(a).toBeGreaterThan(900);
    expect(a).toBeLessThan(1100);
  });
});

describe('opt-out replies', () => {
  it.each(['STOP', ' stop ', 'Unsubscribe', 'opt out', 'OPT  OUT', '退订', 'td', 'Cancel.', 'ＳＴＯＰ'])(
    '%j opts out',
    (t) => {
      expect(isOptOutReply(t)).toBe(true);
    },
  );
  it.each(['stop calling at night', 'I will pay tomorrow', '好的', 'STOPPED'])('%j does not', (t) => {
    expect(isOptOutReply(t)).toBe(false);
  });
});

describe('what a reply means (opt-outs however worded: Reg F, TCPA 2025)', () => {
  it.each([
    'please stop texting me',
    'Please STOP texting me!!',
    'stop please',
    'STOP 🙏',
    'Stop sending me these messages',
    'no more texts',
    "don't text me again",
    'Don’t contact me',
    'do not message me',
    'I revoke my consent',
    'remove me from your list',
    'leave me alone',
    'unsubscribe me',
    '别再发了',
    '不要再给我发短信',
    '请勿打扰',
    '停止发送',
    '别再联系我',
    '不想再收到你们的短信',
    '拒收',
    '退订，谢谢',
    'ＴＤ',
    '停',
    '别催了我下周还',
  ])('%j opts out', (t) => {
    expect(replyMeaning(t)).toBe('opt-out');
  });
  it.each([
    'stop calling at night',
    'STOPPED',
    'this is harassment',
    '太烦了',
    '我要投诉',
    'enough already',
    '你们能不能别这样',
  ])('%j is unclear: a person reads it, no text meanwhile', (t) => {
    expect(replyMeaning(t)).toBe('unclear');
  });
  it.each(['I will pay tomorrow', '好的', 'Thanks, paid today', '下周五还', 'Who is this?', '收到'])(
    '%j is neither',
    (t) => {
      expect(replyMeaning(t)).toBe('other');
    },
  );
});

describe('formatAmount', () => {
  it('formats minor units for the currency and locale', () => {
    expect(formatAmount(500000, 'CNY', 'zh-CN')).toBe('5000元');
    expect(formatAmount(500001, 'CNY', 'zh-CN')).toBe('5000.01元');
    expect(formatAmount(1500, 'JPY', 'en-US')).toBe('¥1,500');
    expect(formatAmount(99, 'USD', 'en-US')).toBe('$0.99');
  });
});
