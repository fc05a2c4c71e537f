// The operations page's script: plain browser JavaScript, no build step. Reads who is signed in
// and what the key may do (/operations/api/me), the queues (/operations/api/summary) and the items
// waiting (/operations/api/items?state=open,claimed: the inbox's own routes, under /operations/ so
// the browser re-sends its HTTP Basic credentials), and claims, releases and resolves them. A
// refusal (a 4xx problem+json) is shown as the API words it. In English or Chinese, as the server
// chose (<html lang>).
'use strict';

(function () {
  const API = '/operations/api';
  /** The most items the page lists at once (the queues' counts are always whole). */
  const MAX_ITEMS = 1000;

  const STRINGS = {
    'en-US': {
      title: 'Operations inbox · loan-reminders',
      heading: 'Operations inbox',
      lede:
        'The loans handed over to people: disputes, hardship, wrong numbers, call-backs. Claim one, look at the ' +
        'loan, and resolve it; the loan acts on the resolution at once.',
      refresh: 'Refresh',
      loading: 'Loading the inbox…',
      readOnly:
        'This key may look at the inbox but not act on it: claiming, releasing and resolving need the scope ' +
        'operations:write.',
      queuesTitle: 'Queues',
      queuesEmpty: 'Nothing is waiting.',
      itemsTitle: 'Waiting for a person',
      itemsHint: 'Open and claimed items, overdue first, then by when they are due.',
      itemsEmpty: 'No item is waiting.',
      colKind: 'Kind',
      colState: 'State',
      colItems: 'Items',
      colOverdue: 'Overdue',
      colLoan: 'Loan',
      colAge: 'Age',
      colDueBy: 'Due by',
      colAssignee: 'Assignee',
      colActions: 'Actions',
      resolveTitle: 'Resolve',
      resolution: 'Resolution',
      'res-resume': 'Resume the reminders',
      'res-new-number': 'New phone number',
      'res-promise': 'Promise to pay',
      'res-plan': 'Repayment plan',
      'res-write-off': 'Write off',
      'res-close': 'Close the loan',
      'res-no-action': 'No action',
      phone: 'New phone (E.164)',
      date: 'Until (the borrower’s date)',
      reason: 'Reason',
      'why-settled-elsewhere': 'Settled elsewhere',
      'why-sold': 'Sold',
      'why-cancelled': 'Cancelled',
      'why-written-off': 'Written off',
      note: 'Note (sealed; only keys with payloads:decode read it)',
      resolveSubmit: 'Resolve',
      cancel: 'Cancel',
      loanTitle: 'The loan',
      answersTitle: 'The borrower’s answers',
      maskedHint: 'A borrower’s words are shown only to keys with the scope payloads:decode.',
      signedIn: 'Signed in as {user}',
      claim: 'Claim',
      release: 'Release',
      resolve: 'Resolve',
      viewLoan: 'Loan',
      temporalUi: 'Temporal UI',
      overdue: 'overdue',
      unassigned: '—',
      'state-open': 'open',
      'state-claimed': 'claimed',
      'state-resolved': 'resolved',
      'loan-active': 'active',
      'loan-paused': 'paused',
      'loan-paid': 'paid',
      'loan-closed': 'closed',
      'loan-unresolved': 'unresolved',
      resolving: 'Resolving {kind} for loan {loan}',
      refused: 'Last attempt refused ({resolution}, HTTP {status}): {detail}',
      failed: 'Refused (HTTP {status}): {detail}',
      loadFailed: 'The inbox could not be loaded (HTTP {status}): {detail}',
      unreachable: 'The API could not be reached: {detail}',
      claimed: 'Claimed: loan {loan} is yours.',
      released: 'Released: loan {loan} is back in the queue.',
      resolved: 'Resolved ({resolution}): loan {loan} is now {status}.',
      minutes: '{n} min',
      hours: '{n} h',
      days: '{n} d',
      factStatus: 'Status',
      factStage: 'Stage',
      factOutstanding: 'Outstanding',
      factDue: 'Due date',
      factPause: 'Paused for',
      factNext: 'Next reminder',
      factHandedOver: 'Handed over',
      none: 'none',
      noAnswers: 'No answers.',
      noLoanScope: 'The loan could not be shown (HTTP {status}): {detail}',
    },
    'zh-CN': {
      title: '运营待办 · loan-reminders',
      heading: '运营待办',
      lede: '转交人工处理的贷款：争议、困难、号码错误、回电请求。认领一项，查看贷款，然后处理；贷款会立即按处理结果执行。',
      refresh: '刷新',
      loading: '正在加载待办…',
      readOnly: '此密钥只能查看待办，不能操作：认领、释放和处理需要 operations:write 权限。',
      queuesTitle: '队列',
      queuesEmpty: '没有待处理的事项。',
      itemsTitle: '等待人工处理',
      itemsHint: '未认领和已认领的事项，已逾期的在前，其余按截止时间排序。',
      itemsEmpty: '没有等待处理的事项。',
      colKind: '类型',
      colState: '状态',
      colItems: '事项数',
      colOverdue: '已逾期',
      colLoan: '贷款',
      colAge: '已等待',
      colDueBy: '截止时间',
      colAssignee: '处理人',
      colActions: '操作',
      resolveTitle: '处理',
      resolution: '处理结果',
      'res-resume': '恢复提醒',
      'res-new-number': '更换手机号',
      'res-promise': '承诺还款',
      'res-plan': '还款计划',
      'res-write-off': '核销',
      'res-close': '关闭贷款',
      'res-no-action': '无需处理',
      phone: '新手机号（E.164）',
      date: '暂停至（借款人当地日期）',
      reason: '原因',
      'why-settled-elsewhere': '已在别处结清',
      'why-sold': '已出售',
      'why-cancelled': '已取消',
      'why-written-off': '已核销',
      note: '备注（加密保存；仅有 payloads:decode 权限的密钥可读）',
      resolveSubmit: '提交处理',
      cancel: '取消',
      loanTitle: '贷款',
      answersTitle: '借款人的回复',
      maskedHint: '借款人的原话仅对有 payloads:decode 权限的密钥显示。',
      signedIn: '当前用户：{user}',
      claim: '认领',
      release: '释放',
      resolve: '处理',
      viewLoan: '查看贷款',
      temporalUi: 'Temporal 控制台',
      overdue: '已逾期',
      unassigned: '—',
      'state-open': '待认领',
      'state-claimed': '已认领',
      'state-resolved': '已处理',
      'loan-active': '正常提醒',
      'loan-paused': '已暂停',
      'loan-paid': '已还清',
      'loan-closed': '已关闭',
      'loan-unresolved': '未结清',
      resolving: '处理贷款 {loan} 的{kind}',
      refused: '上次处理被拒绝（{resolution}，HTTP {status}）：{detail}',
      failed: '被拒绝（HTTP {status}）：{detail}',
      loadFailed: '无法加载待办（HTTP {status}）：{detail}',
      unreachable: '无法连接 API：{detail}',
      claimed: '已认领：贷款 {loan} 由你处理。',
      released: '已释放：贷款 {loan} 已回到队列。',
      resolved: '已处理（{resolution}）：贷款 {loan} 当前状态为 {status}。',
      minutes: '{n} 分钟',
      hours: '{n} 小时',
      days: '{n} 天',
      factStatus: '状态',
      factStage: '阶段',
      factOutstanding: '未还金额',
      factDue: '到期日',
      factPause: '暂停原因',
      factNext: '下次提醒',
      factHandedOver: '转交记录',
      none: '无',
      noAnswers: '没有回复。',
      noLoanScope: '无法显示贷款（HTTP {status}）：{detail}',
    },
  };

  const KINDS = {
    'en-US': {
      'payment-conflict': 'payment conflict',
      callback: 'call-back',
      dispute: 'dispute',
      hardship: 'hardship',
      'wrong-number': 'wrong number',
      'unclear-reply': 'unclear reply',
      'promise-broken': 'promise broken',
      undeliverable: 'undeliverable',
      'opt-out': 'opt-out',
      'schedule-exhausted': 'schedule exhausted',
    },
    'zh-CN': {
      'payment-conflict': '还款冲突',
      callback: '回电请求',
      dispute: '争议',
      hardship: '还款困难',
      'wrong-number': '号码错误',
      'unclear-reply': '回复不明',
      'promise-broken': '承诺未兑现',
      undeliverable: '无法送达',
      'opt-out': '退订',
      'schedule-exhausted': '提醒已用完',
    },
  };

  const lang = document.documentElement.lang === 'zh-CN' ? 'zh-CN' : 'en-US';
  const text = STRINGS[lang];
  const $ = (id) => document.getElementById(id);

  function t(key, vars) {
    const s = text[key] ?? STRINGS['en-US'][key] ?? key;
    return s.replace(/\{(\w+)\}/g, (_m, k) => (vars && vars[k] !== undefined ? String(vars[k]) : ''));
  }
  const kindName = (k) => KINDS[lang][k] ?? k;
  const stateName = (s) => t(`state-${s}`);
  const resolutionName = (r) => t(`res-${r}`);
  const loanStatusName = (s) => (s ? t(`loan-${s}`) : '');
  const when = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });

  function age(fromIso, now) {
    const minutes = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 60000));
    if (minutes < 60) return t('minutes', { n: minutes });
    if (minutes < 48 * 60) return t('hours', { n: Math.floor(minutes / 60) });
    return t('days', { n: Math.floor(minutes / 1440) });
  }

  function money(minor, currency) {
    try {
      const format = new Intl.NumberFormat(lang, { style: 'currency', currency, currencyDisplay: 'code' });
      const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
      return format.format(minor / 10 ** digits).replace(/\u00a0/g, ' ');
    } catch {
      return `${minor} ${currency}`;
    }
  }

  function translatePage() {
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    document.title = t('title');
  }

  // ---- Messages to the reader ----
  function showMessage(s, kind) {
    const m = $('message');
    m.textContent = s;
    m.className = `message${kind ? ` is-${kind}` : ''}`;
    m.hidden = false;
  }

  async function problemOf(res) {
    try {
      const body = await res.json();
      const fields = Array.isArray(body.errors) ? body.errors.map((e) => `${e.field}: ${e.message}`).join('; ') : '';
      return [body.detail || body.title, fields].filter(Boolean).join(' — ');
    } catch {
      return res.statusText;
    }
  }

  /** A call to the inbox: its JSON, or an Error carrying the status and the problem's words. */
  async function call(method, path, body) {
    let res;
    try {
      res = await fetch(`${API}${path}`, {
        method,
        credentials: 'same-origin',
        headers: body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const e = new Error(t('unreachable', { detail: err.message }));
      e.status = 0;
      throw e;
    }
    if (!res.ok) {
      const e = new Error(await problemOf(res));
      e.status = res.status;
      throw e;
    }
    return res.json();
  }

  // ---- State ----
  let me = { user: '', scopes: [] };
  let items = [];
  let selected = null;
  const mayWrite = () => me.scopes.includes('operations:write');

  // ---- Drawing ----
  function cell(row, content, className) {
    const td = document.createElement('td');
    if (className) td.className = className;
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    row.append(td);
    return td;
  }

  function button(label, action, item, disabled) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.action = action;
    b.className = action === 'claim' || action === 'resolve' ? '' : 'secondary';
    b.disabled = Boolean(disabled);
    b.addEventListener('click', () => act(action, item));
    return b;
  }

  function drawQueues(summary) {
    const body = $('queues').querySelector('tbody');
    body.replaceChildren();
    const queues = [...summary.queues].sort((a, b) => b.overdue - a.overdue || a.kind.localeCompare(b.kind));
    for (const q of queues) {
      const tr = document.createElement('tr');
      tr.dataset.kind = q.kind;
      tr.dataset.state = q.state;
      if (q.overdue > 0) tr.className = 'is-overdue';
      cell(tr, kindName(q.kind));
      cell(tr, stateName(q.state));
      cell(tr, String(q.items), 'num');
      cell(tr, String(q.overdue), 'num');
      body.append(tr);
    }
    $('queues-empty').hidden = queues.length > 0;
  }

  function drawItems(now) {
    const body = $('items').querySelector('tbody');
    body.replaceChildren();
    // Overdue first, then by when they are due (the API answers due first already).
    const rows = [...items].sort(
      (a, b) => Number(b.overdue) - Number(a.overdue) || Date.parse(a.dueBy) - Date.parse(b.dueBy),
    );
    for (const item of rows) {
      const tr = document.createElement('tr');
      tr.dataset.itemId = item.id;
      tr.dataset.loanId = item.loanId;
      tr.dataset.kind = item.kind;
      tr.dataset.state = item.state;
      if (item.overdue) tr.className = 'is-overdue';
      const kind = cell(tr, kindName(item.kind), 'kind');
      if (item.outcome && item.outcome.accepted === false) {
        const why = document.createElement('span');
        why.className = 'refusal';
        why.textContent = t('refused', {
          resolution: resolutionName(item.outcome.resolution),
          status: item.outcome.status,
          detail: item.outcome.detail,
        });
        kind.append(why);
      }
      cell(tr, item.loanId, 'loan');
      cell(tr, age(item.filedAt, now), 'age');
      const due = cell(tr, when.format(new Date(item.dueBy)), 'due');
      if (item.overdue) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = t('overdue');
        due.append(badge);
      }
      cell(tr, stateName(item.state), 'state');
      cell(tr, item.assignee ?? t('unassigned'), 'assignee');
      const actions = document.createElement('div');
      actions.className = 'actions';
      const mine = item.assignee === me.user;
      const write = mayWrite();
      if (item.state === 'open') actions.append(button(t('claim'), 'claim', item, !write));
      if (item.state === 'claimed') actions.append(button(t('release'), 'release', item, !write || !mine));
      actions.append(button(t('resolve'), 'resolve', item, !write || (item.state === 'claimed' && !mine)));
      actions.append(button(t('viewLoan'), 'loan', item, false));
      if (item.links && item.links.temporalUi) {
        const a = document.createElement('a');
        a.href = item.links.temporalUi;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.className = 'temporal-ui';
        a.textContent = t('temporalUi');
        actions.append(a);
      }
      cell(tr, actions, 'actions-cell');
      body.append(tr);
    }
    $('items-empty').hidden = rows.length > 0;
  }

  /** The items open or claimed, due first: page after page, up to MAX_ITEMS. */
  async function waitingItems() {
    const found = [];
    let token = null;
    do {
      const query = new URLSearchParams({ state: 'open,claimed', pageSize: '200' });
      if (token) query.set('pageToken', token);
      const page = await call('GET', `/items?${query}`);
      found.push(...page.items);
      token = page.nextPageToken;
    } while (token && found.length < MAX_ITEMS);
    return found;
  }

  async function load() {
    const status = $('status');
    try {
      me = await call('GET', '/me');
      $('signed-in').textContent = t('signedIn', { user: me.user });
      $('read-only').hidden = mayWrite();
      const [summary, waiting] = await Promise.all([call('GET', '/summary'), waitingItems()]);
      items = waiting;
      drawQueues(summary);
      drawItems(Date.now());
      status.hidden = true;
      $('content').hidden = false;
      document.body.dataset.loaded = 'true';
    } catch (err) {
      status.textContent = t('loadFailed', { status: err.status, detail: err.message });
      status.className = 'status is-error';
      status.hidden = false;
    }
  }

  // ---- Acting ----
  const itemPath = (item) => `/items/${encodeURIComponent(item.id)}`;

  async function act(action, item) {
    if (action === 'resolve') return openResolve(item);
    if (action === 'loan') return showLoan(item);
    try {
      await call('POST', `${itemPath(item)}/${action}`, {});
      showMessage(t(action === 'claim' ? 'claimed' : 'released', { loan: item.loanId }), 'ok');
    } catch (err) {
      showMessage(err.status ? t('failed', { status: err.status, detail: err.message }) : err.message, 'error');
    }
    await load();
  }

  const NEEDS = { 'new-number': 'phone', promise: 'date', plan: 'date', close: 'reason' };

  function showFields() {
    const need = NEEDS[$('resolution').value];
    for (const f of ['phone', 'date', 'reason']) $(`field-${f}`).hidden = need !== f;
  }

  function openResolve(item) {
    selected = item;
    $('resolve-item').textContent = t('resolving', { kind: kindName(item.kind), loan: item.loanId });
    $('resolve-form').reset();
    showFields();
    $('resolve-panel').hidden = false;
    $('resolution').focus();
  }

  async function submitResolve(event) {
    event.preventDefault();
    if (!selected) return;
    const item = selected;
    const resolution = $('resolution').value;
    const body = { resolution };
    const need = NEEDS[resolution];
    if (need) body[need] = $(need).value.trim();
    const note = $('note').value.trim();
    if (note) body.note = note;
    try {
      const done = await call('POST', `${itemPath(item)}/resolve`, body);
      showMessage(
        t('resolved', {
          resolution: resolutionName(resolution),
          loan: item.loanId,
          status: loanStatusName(done.outcome && done.outcome.loanStatus),
        }),
        'ok',
      );
      $('resolve-panel').hidden = true;
      selected = null;
      // The loan shown is the one just resolved: show it as it is now.
      if (!$('loan-panel').hidden && $('loan-panel').dataset.loanId === item.loanId) await showLoan(item);
    } catch (err) {
      showMessage(err.status ? t('failed', { status: err.status, detail: err.message }) : err.message, 'error');
    }
    await load();
  }

  function fact(list, label, value) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = value;
    list.append(dt, dd);
  }

  async function showLoan(item) {
    const panel = $('loan-panel');
    const facts = $('loan-facts');
    const answers = $('loan-answers');
    try {
      const loan = await call('GET', `${itemPath(item)}/loan`);
      facts.replaceChildren();
      answers.replaceChildren();
      panel.dataset.loanId = loan.loanId;
      fact(facts, t('colLoan'), loan.loanId);
      fact(facts, t('factStatus'), loanStatusName(loan.status));
      fact(facts, t('factStage'), loan.stage);
      fact(facts, t('factOutstanding'), money(loan.outstanding, loan.currency));
      fact(facts, t('factDue'), loan.dueDate);
      fact(facts, t('factPause'), loan.pause ? kindName(loan.pause.kind) : t('none'));
      fact(facts, t('factNext'), loan.nextReminderAt ? when.format(new Date(loan.nextReminderAt)) : t('none'));
      fact(
        facts,
        t('factHandedOver'),
        loan.handedOver.length ? loan.handedOver.map((h) => kindName(h.kind)).join(', ') : t('none'),
      );
      for (const a of loan.answers) {
        const li = document.createElement('li');
        const words = [a.reason, a.note].filter(Boolean).join(' · ');
        li.textContent = `${when.format(new Date(a.receivedAt))} ${kindName(a.kind)}${words ? `: ${words}` : ''}`;
        answers.append(li);
      }
      if (!loan.answers.length) {
        const li = document.createElement('li');
        li.textContent = t('noAnswers');
        answers.append(li);
      }
      panel.hidden = false;
    } catch (err) {
      showMessage(t('noLoanScope', { status: err.status, detail: err.message }), 'error');
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    translatePage();
    $('resolution').addEventListener('change', showFields);
    $('resolve-form').addEventListener('submit', submitResolve);
    $('resolve-cancel').addEventListener('click', () => {
      $('resolve-panel').hidden = true;
      selected = null;
    });
    $('refresh').addEventListener('click', () => {
      $('message').hidden = true;
      load();
    });
    load();
  });
})();
