import { describe, expect, it } from 'vitest';
import type { Lender } from '../../src/domain/loan';
import { formatAmount } from '../../src/domain/money';
import { renderReminder } from '../../src/domain/templates';
import type { Stage } from '../../src/domain/schedule';

const lender: Lender = { name: { 'zh-CN': '锦程金融', 'en-US': 'Jincheng Finance' }, contactPhone: '4001234567' };

describe('renderReminder', () => {
  it("reads as the brief's due-day example for Mr Zhang, with an opt-out hint", () => {
    const text = renderReminder({
      stage: 'due',
      locale: 'zh-CN',
      borrowerName: '张先生',
      outstanding: 500000,
      currency: 'CNY',
      dueDate: '2024-10-30',
      lender,
    });
    expect(text).toBe(
      '尊敬的张先生，您好！您在锦程金融的还款金额为5000元，截止日期为2024年10月30日。请您尽快处理，以免产生额外费用。如有疑问，请拨打我们的客服热线：4001234567。感谢您的配合！回复TD退订',
    );
  });

  it.each<[Stage, 'zh-CN' | 'en-US']>([
    ['pre-due', 'zh-CN'],
    ['due', 'zh-CN'],
    ['overdue', 'zh-CN'],
    ['pre-due', 'en-US'],
    ['due', 'en-US'],
    ['overdue', 'en-US'],
  ])('%s in %s carries the name, amount, due date, contact number and opt-out', (stage, locale) => {
    const text = renderReminder({
      stage,
      locale,
      borrowerName: locale === 'zh-CN' ? '李女士' : 'Ms Rivera',
      outstanding: 123450,
      currency: locale === 'zh-CN' ? 'CNY' : 'USD',
      dueDate: '2025-01-05',
      lender,
    });
    if (locale === 'zh-CN') {
      expect(text).toContain('李女士');
      expect(text).toContain('1234.50元');
      expect(text).toContain('2025年1月5日');
      expect(text).toContain('回复TD退订');
      expect(text).toContain('锦程金融');
    } else {
      expect(text).toContain('Ms Rivera');
      expect(text).toContain('$1,234.50');
      expect(text).toContain('January 5, 2025');
      expect(text).toContain('Reply STOP to opt out');
      expect(text).toContain('Jincheng Finance');
    }
    expect(text).toContain('4001234567');
  });
});

describe('formatAmount', () => {
  it('formats minor units for the currency and locale', () => {
    expect(formatAmount(500000, 'CNY', 'zh-CN')).toBe('5000元');
    expect(formatAmount(500001, 'CNY', 'zh-CN')).toBe('5000.01元');
    expect(formatAmount(1500, 'JPY', 'en-US')).toBe('¥1,500');
    expect(formatAmount(99, 'USD', 'en-US')).toBe('$0.99');
  });
});
