// The effectiveness dashboard's page script: plain browser JavaScript, no build step. Reads the
// range from the query string (or the last 30 days), fetches /dashboard/effectiveness.json (the
// same report as GET /v1/analytics/effectiveness) and draws it with Chart.js. Each canvas gets
// data-drawn="true" and data-points="<points drawn>" once Chart.js has rendered it.
'use strict';

(function () {
  const DAY = 86400000;
  /** Stages in the order a loan meets them; any other stage follows, by name. */
  const STAGE_ORDER = ['pre-due', 'due', 'overdue', 'overdue-followup', 'final-notice'];
  /** Okabe–Ito colours, told apart with colour-blindness too; lines also differ in dash and marker. */
  const STAGE_COLOURS = ['#0072B2', '#009E73', '#D55E00', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
  const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3], [12, 6], [4, 8], [1, 2]];
  const MARKERS = ['circle', 'rect', 'triangle', 'rectRot', 'star', 'crossRot', 'cross'];
  const MESSAGES = '#0072B2';
  const LOANS = '#00795C';
  const INK = '#1F2933';
  const INK_SOFT = '#4A5563';
  const GRID = '#E3E8EE';

  const $ = (id) => document.getElementById(id);

  // ---- Formatting ----
  const percent = (x, digits) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(digits ?? 1)}%`);
  const points = (x) =>
    x === null || x === undefined ? '–' : `${x > 0 ? '+' : x < 0 ? '−' : ''}${Math.abs(x * 100).toFixed(1)} points`;
  const count = (n, one, many) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
  const when = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

  /** Minor units to a money string: 50000 CNY is "CNY 500.00". */
  function money(minor, currency) {
    try {
      const format = new Intl.NumberFormat('en', { style: 'currency', currency, currencyDisplay: 'code' });
      const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
      return format.format(minor / 10 ** digits).replace(/\u00a0/g, ' ');
    } catch {
      return `${minor.toLocaleString('en')} ${currency || '(no currency)'} (minor units)`;
    }
  }

  function amounts(byCurrency) {
    const entries = Object.entries(byCurrency).sort(([a], [b]) => a.localeCompare(b));
    return entries.length ? entries.map(([c, v]) => money(v, c)) : ['–'];
  }

  function hours(h) {
    if (h === null || h === undefined) return '–';
    return h < 48 ? `${h.toFixed(1)} hours` : `${(h / 24).toFixed(1)} days`;
  }

  const paidWithin = (f, d) => f.paidInFull[`d${d}`] + f.paidInPart[`d${d}`];

  function stageRank(name) {
    const i = STAGE_ORDER.indexOf(name);
    return i < 0 ? STAGE_ORDER.length : i;
  }

  // ---- The range: ?from=&to= (dates or instants), or the last 30 days ----
  function isoDate(ms) {
    return new Date(ms).toISOString().slice(0, 10);
  }

  function chosenRange() {
    const params = new URLSearchParams(window.location.search);
    const to = (params.get('to') || '').trim() || isoDate(Date.now());
    const toDay = Date.parse(to.slice(0, 10));
    const from = (params.get('from') || '').trim() || isoDate((Number.isNaN(toDay) ? Date.now() : toDay) - 29 * DAY);
    return { from, to };
  }

  // ---- Messages to the reader ----
  function showStatus(text, kind) {
    const status = $('status');
    status.textContent = text;
    status.className = `status${kind ? ` is-${kind}` : ''}`;
    status.hidden = false;
  }

  async function problemText(res) {
    try {
      const body = await res.json();
      const fields = Array.isArray(body.errors) ? body.errors.map((e) => `${e.field}: ${e.message}`).join('; ') : '';
      return [body.detail || body.title, fields].filter(Boolean).join(' — ');
    } catch {
      return res.statusText;
    }
  }

  // ---- Charts ----
  /** Marks a canvas once Chart.js has drawn it, with the number of data points drawn. */
  const markDrawn = {
    id: 'markDrawn',
    afterRender(chart) {
      const drawn = chart.data.datasets.reduce(
        (n, ds) => n + ds.data.filter((v) => v !== null && v !== undefined).length,
        0,
      );
      chart.canvas.dataset.points = String(drawn);
      chart.canvas.dataset.drawn = 'true';
    },
  };

  /** Writes each bar's value above it, so the figures can be read without hovering. */
  const barValues = {
    id: 'barValues',
    afterDatasetsDraw(chart, _args, options) {
      const { ctx } = chart;
      ctx.save();
      ctx.font = `600 12px ${Chart.defaults.font.family}`;
      ctx.fillStyle = INK;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'bottom';
      chart.data.datasets.forEach((ds, i) => {
        chart.getDatasetMeta(i).data.forEach((bar, j) => {
          const v = ds.data[j];
          if (v === null || v === undefined) return;
          ctx.fillText(options.format(v, i, j), bar.x, bar.y - 4);
        });
      });
      ctx.restore();
    },
  };

  function baseOptions() {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      layout: { padding: { top: 20 } },
      plugins: { legend: { labels: { usePointStyle: true, boxHeight: 8, color: INK } } },
    };
  }

  function axis(title, extra) {
    return {
      title: { display: true, text: title, color: INK_SOFT, font: { weight: '600' } },
      grid: { color: GRID },
      ticks: { color: INK_SOFT },
      ...extra,
    };
  }

  function drawCurve(stages) {
    const labels = stages[0] ? stages[0].curve.map((p) => String(p.day)) : [];
    return new Chart($('chart-curve'), {
      type: 'line',
      data: {
        labels,
        datasets: stages.map((g, i) => ({
          label: `${g.group} (${count(g.loansMessaged, 'loan', 'loans')})`,
          data: g.curve.map((p) => p.share),
          borderColor: STAGE_COLOURS[i % STAGE_COLOURS.length],
          backgroundColor: STAGE_COLOURS[i % STAGE_COLOURS.length],
          borderDash: DASHES[i % DASHES.length],
          pointStyle: MARKERS[i % MARKERS.length],
          pointRadius: 4,
          borderWidth: 2.5,
          tension: 0,
        })),
      },
      options: {
        ...baseOptions(),
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: axis('Days after the message'),
          y: axis('Share of loans paid', {
            min: 0,
            max: 1,
            ticks: { color: INK_SOFT, callback: (v) => percent(v, 0) },
          }),
        },
        plugins: {
          ...baseOptions().plugins,
          tooltip: {
            callbacks: {
              title: (items) => `${count(Number(items[0].label), 'day', 'days')} after the message`,
              label: (item) => {
                const g = stages[item.datasetIndex];
                const paid = Math.round((item.parsed.y ?? 0) * g.loansMessaged);
                return `${g.group}: ${percent(item.parsed.y)} (${paid} of ${count(g.loansMessaged, 'loan', 'loans')})`;
              },
            },
          },
        },
      },
      plugins: [markDrawn],
    });
  }

  function drawFunnel(totals) {
    const paid = paidWithin(totals, 7);
    return new Chart($('chart-funnel'), {
      type: 'bar',
      data: {
        labels: ['Messages sent', 'Messages delivered', 'Loans paid within 7 days'],
        datasets: [
          {
            label: 'Count',
            data: [totals.messagesSent, totals.messagesDelivered, paid],
            backgroundColor: [MESSAGES, MESSAGES, LOANS],
            borderRadius: 4,
            maxBarThickness: 90,
          },
        ],
      },
      options: {
        ...baseOptions(),
        scales: {
          x: axis('', { title: { display: false }, grid: { display: false }, ticks: { color: INK } }),
          y: axis('Messages or loans', { beginAtZero: true, ticks: { color: INK_SOFT, precision: 0 } }),
        },
        plugins: {
          legend: { display: false },
          barValues: { format: (v) => v.toLocaleString('en') },
          tooltip: {
            callbacks: {
              label: (item) =>
                item.dataIndex < 2
                  ? count(item.parsed.y, 'message', 'messages')
                  : count(item.parsed.y, 'loan', 'loans'),
            },
          },
        },
      },
      plugins: [barValues, markDrawn],
    });
  }

  function drawVariants(c) {
    const arms = [c.a, c.b];
    return new Chart($('chart-variants'), {
      type: 'bar',
      data: {
        labels: [
          `Variant A (${count(c.a.trials, 'loan', 'loans')})`,
          `Variant B (${count(c.b.trials, 'loan', 'loans')})`,
        ],
        datasets: [
          {
            label: 'Repayment rate within 7 days',
            data: [c.a.rate, c.b.rate],
            backgroundColor: ['#0072B2', '#D55E00'],
            borderRadius: 4,
            maxBarThickness: 90,
          },
        ],
      },
      options: {
        ...baseOptions(),
        scales: {
          x: axis('', { title: { display: false }, grid: { display: false }, ticks: { color: INK } }),
          y: axis('Loans paid within 7 days', {
            min: 0,
            max: 1,
            ticks: { color: INK_SOFT, callback: (v) => percent(v, 0) },
          }),
        },
        plugins: {
          legend: { display: false },
          barValues: { format: (v, _i, j) => `${percent(v)} (${arms[j].successes} of ${arms[j].trials})` },
          tooltip: {
            callbacks: {
              label: (item) =>
                `${percent(item.parsed.y)}: ${arms[item.dataIndex].successes} of ${count(arms[item.dataIndex].trials, 'loan', 'loans')} paid`,
            },
          },
        },
      },
      plugins: [barValues, markDrawn],
    });
  }

  function drawFeedback(stages) {
    return new Chart($('chart-feedback'), {
      type: 'bar',
      data: {
        labels: stages.map((g) => [g.group, count(g.ratings.count, 'rating', 'ratings')]),
        datasets: [
          {
            label: 'Clarity',
            data: stages.map((g) => g.ratings.clarity),
            backgroundColor: '#0072B2',
            borderRadius: 4,
            maxBarThickness: 56,
          },
          {
            label: 'Tone',
            data: stages.map((g) => g.ratings.tone),
            backgroundColor: '#E69F00',
            borderRadius: 4,
            maxBarThickness: 56,
          },
        ],
      },
      options: {
        ...baseOptions(),
        scales: {
          x: axis('', { title: { display: false }, grid: { display: false }, ticks: { color: INK } }),
          y: axis('Average score', { min: 0, max: 5, ticks: { color: INK_SOFT, stepSize: 1 } }),
        },
        plugins: {
          ...baseOptions().plugins,
          barValues: { format: (v) => v.toFixed(1) },
          tooltip: {
            callbacks: {
              label: (item) =>
                `${item.dataset.label}: ${item.parsed.y.toFixed(2)} (${count(stages[item.dataIndex].ratings.count, 'rating', 'ratings')})`,
            },
          },
        },
      },
      plugins: [barValues, markDrawn],
    });
  }

  // ---- Text and the table ----
  function cell(row, text, numeric, tag) {
    const el = document.createElement(tag || 'td');
    if (numeric) el.className = 'num';
    if (Array.isArray(text)) {
      text.forEach((line, i) => {
        if (i) el.appendChild(document.createElement('br'));
        el.appendChild(document.createTextNode(line));
      });
    } else el.textContent = text;
    row.appendChild(el);
    return el;
  }

  function tableRow(f, label) {
    const tr = document.createElement('tr');
    const th = cell(tr, label, false, 'th');
    th.scope = 'row';
    tr.dataset.group = f.group;
    cell(tr, f.messagesSent.toLocaleString('en'), true);
    cell(tr, `${f.messagesDelivered.toLocaleString('en')} (${percent(f.deliveryRate, 0)})`, true);
    cell(tr, f.loansMessaged.toLocaleString('en'), true);
    for (const d of [1, 3, 7]) cell(tr, `${paidWithin(f, d)} (${percent(f.repaymentRate[`d${d}`], 0)})`, true);
    cell(tr, amounts(f.amountRecovered), true);
    cell(tr, hours(f.medianHoursToPay), true);
    cell(tr, `${percent(f.optOutRate)} (${f.optOuts})`, true);
    cell(tr, `${percent(f.complaintRate)} (${f.complaints})`, true);
    return tr;
  }

  function fillTable(report, stages) {
    const body = document.querySelector('#stage-table tbody');
    const foot = document.querySelector('#stage-table tfoot');
    body.replaceChildren(...stages.map((g) => tableRow(g, g.group)));
    foot.replaceChildren(tableRow(report.totals, 'All stages'));
  }

  function fillSummary(t) {
    const withSub = (id, main, sub) => {
      const el = $(id);
      el.textContent = main;
      if (sub) {
        const s = document.createElement('span');
        s.className = 'sub';
        s.textContent = sub;
        el.appendChild(s);
      }
    };
    withSub('sum-sent', t.messagesSent.toLocaleString('en'));
    withSub('sum-delivered', t.messagesDelivered.toLocaleString('en'), percent(t.deliveryRate));
    withSub('sum-loans', t.loansMessaged.toLocaleString('en'));
    withSub('sum-paid', paidWithin(t, 7).toLocaleString('en'), percent(t.repaymentRate.d7));
    const amount = $('sum-amount');
    amount.replaceChildren();
    amounts(t.amountRecovered).forEach((line, i) => {
      if (i) amount.appendChild(document.createElement('br'));
      amount.appendChild(document.createTextNode(line));
    });
  }

  function fillVariantText(c) {
    $('variant-verdict').textContent = c.verdict;
    $('variant-difference').textContent = points(c.difference);
    $('variant-ci').textContent = c.ci95 ? `${points(c.ci95[0])} to ${points(c.ci95[1])}` : '–';
    $('variant-p').textContent = c.pValue === null ? '–' : c.pValue.toFixed(3);
    $('variant-note').hidden = c.enoughData;
  }

  function render(report) {
    $('range-shown').textContent =
      `Reminders sent from ${when.format(new Date(report.from))} up to ${when.format(new Date(report.to))} (UTC), ` +
      'with the payments and answers that followed them.';
    const t = report.totals;
    const stages = report.groups
      .slice()
      .sort((x, y) => stageRank(x.group) - stageRank(y.group) || x.group.localeCompare(y.group));
    fillSummary(t);
    fillVariantText(report.comparison);
    fillTable(report, stages);
    $('attribution').textContent = `How payments are counted: ${report.attribution}`;
    $('funnel-caption').textContent =
      `${count(t.messagesDelivered, 'message', 'messages')} of ${t.messagesSent.toLocaleString('en')} confirmed delivered (${percent(t.deliveryRate)}); ` +
      `${paidWithin(t, 7)} of ${count(t.loansMessaged, 'loan', 'loans')} messaged paid within 7 days (${percent(t.repaymentRate.d7)}).`;
    const rated = t.ratings.count;
    $('feedback-caption').textContent = rated
      ? `${count(rated, 'rating', 'ratings')} in all: clarity ${t.ratings.clarity.toFixed(1)}, tone ${t.ratings.tone.toFixed(1)} on average.`
      : 'No borrower rated a message in this range.';

    // Shown before drawing, so each chart measures the size it is given.
    $('status').hidden = true;
    $('content').hidden = false;
    drawCurve(stages);
    drawFunnel(t);
    drawVariants(report.comparison);
    drawFeedback(stages);
  }

  async function main() {
    const range = chosenRange();
    $('from').value = range.from.slice(0, 10);
    $('to').value = range.to.slice(0, 10);
    $('range').addEventListener('submit', (event) => {
      // Leave empty fields out of the address rather than send "from=".
      event.preventDefault();
      const q = new URLSearchParams();
      for (const name of ['from', 'to']) if ($(name).value) q.set(name, $(name).value);
      window.location.search = q.toString();
    });

    if (typeof Chart === 'undefined') {
      showStatus(
        'The charting library did not load. Reload the page; if this keeps happening, tell the team running the service.',
        'error',
      );
      return;
    }
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = INK;

    const q = new URLSearchParams({ groupBy: 'stage', from: range.from, to: range.to });
    let res;
    try {
      res = await fetch(`/dashboard/effectiveness.json?${q}`, {
        headers: { accept: 'application/json' },
        credentials: 'same-origin',
      });
    } catch {
      showStatus(
        'The figures could not be loaded: the service did not answer. Check the connection and reload the page.',
        'error',
      );
      return;
    }
    if (!res.ok) {
      showStatus(`The figures could not be loaded (HTTP ${res.status}): ${await problemText(res)}`, 'error');
      return;
    }
    const report = await res.json();
    if (report.totals.messagesSent === 0) {
      showStatus(
        `No reminders were sent between ${when.format(new Date(report.from))} and ${when.format(new Date(report.to))} (UTC). Choose another range above.`,
        'empty',
      );
      return;
    }
    render(report);
  }

  main().catch((err) => {
    console.error(err);
    showStatus('Something went wrong while drawing the dashboard. Reload the page to try again.', 'error');
  });
})();
