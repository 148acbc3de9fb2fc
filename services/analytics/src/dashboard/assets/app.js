// The dashboard in the browser: logs in with the API key (the session is an HttpOnly cookie),
// fetches every panel's numbers and draws each as a Chart.js chart beside a table of the same
// numbers. No inline script (the page's CSP forbids it); Chart.js comes from the service.
/* global document, fetch, Chart */
(function () {
  'use strict';
  const base = document.currentScript.dataset.base;
  const $ = (selector) => document.querySelector(selector);
  const charts = {};
  const COLORS = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6', '#dd4477', '#66aa00'];
  const fixed = (v, digits) => (v === null || v === undefined ? '—' : Number(v).toFixed(digits));
  const percent = (v) => (v === null || v === undefined ? '—' : `${(Number(v) * 100).toFixed(1)}%`);

  function show(state) {
    document.body.dataset.state = state;
    $('#login').hidden = state !== 'login';
    $('#dashboard').hidden = state !== 'ready';
    $('#logout').hidden = state !== 'ready';
  }

  function fillTable(id, head, rows) {
    const table = document.querySelector(`[data-testid="table-${id}"]`);
    for (const el of [...table.querySelectorAll('thead, tbody')]) el.remove();
    const thead = table.createTHead().insertRow();
    for (const h of head) {
      const th = document.createElement('th');
      th.scope = 'col';
      th.textContent = h;
      thead.appendChild(th);
    }
    const tbody = table.createTBody();
    for (const row of rows) {
      const tr = tbody.insertRow();
      for (const cell of row) tr.insertCell().textContent = String(cell);
    }
  }

  function draw(id, config) {
    charts[id]?.destroy();
    const canvas = document.querySelector(`[data-testid="chart-${id}"]`);
    config.options = { animation: false, responsive: true, maintainAspectRatio: false, ...config.options };
    charts[id] = new Chart(canvas, config);
  }

  const RENDER = {
    emailFunnel(rows) {
      draw('emailFunnel', {
        type: 'bar',
        data: {
          labels: rows.map((r) => r.stage),
          datasets: [{ label: 'messages', data: rows.map((r) => r.messages), backgroundColor: COLORS[0] }],
        },
      });
      fillTable(
        'emailFunnel',
        ['stage', 'messages', 'of sent'],
        rows.map((r) => {
          const sent = rows.find((s) => s.stage === 'sent')?.messages ?? 0;
          return [r.stage, r.messages, sent > 0 ? percent(r.messages / sent) : '—'];
        }),
      );
    },
    ruleFirings(rows) {
      draw('ruleFirings', {
        type: 'bar',
        data: {
          labels: rows.map((r) => r.ruleId),
          datasets: [
            { label: 'firings', data: rows.map((r) => r.firings), backgroundColor: COLORS[0] },
            { label: 'conversions', data: rows.map((r) => r.conversions), backgroundColor: COLORS[3] },
          ],
        },
      });
      fillTable(
        'ruleFirings',
        [
          'rule',
          'firings',
          'actions succeeded',
          'actions failed',
          'conversions',
          'revenue',
          'conversion rate',
        ],
        rows.map((r) => [
          r.ruleId,
          r.firings,
          r.actionsSucceeded,
          r.actionsFailed,
          r.conversions,
          fixed(r.revenue, 2),
          percent(r.conversionRate),
        ]),
      );
    },
    experiments(rows) {
      const variants = rows.flatMap((e) => e.variants.map((v) => ({ experiment: e, ...v })));
      draw('experiments', {
        type: 'bar',
        data: {
          labels: variants.map((v) => `${v.experiment.experimentId} · ${v.variantId}`),
          datasets: [
            { label: 'rate', data: variants.map((v) => v.rate), backgroundColor: COLORS[0] },
            // A floating bar from the interval's low to its high.
            {
              label: '95% interval',
              data: variants.map((v) => [v.low, v.high]),
              backgroundColor: 'rgba(220, 57, 18, 0.35)',
            },
          ],
        },
      });
      fillTable(
        'experiments',
        ['experiment', 'variant', 'exposed', 'conversions', 'rate', 'low', 'high', 'winner', 'p-value'],
        variants.map((v) => [
          v.experiment.experimentId,
          v.variantId,
          v.exposed,
          v.conversions,
          fixed(v.rate, 4),
          fixed(v.low, 4),
          fixed(v.high, 4),
          v.experiment.winnerVariantId === v.variantId ? (v.experiment.decided ? 'decided' : 'leading') : '',
          fixed(v.experiment.pValue, 4),
        ]),
      );
    },
    rfmGrid(rows) {
      draw('rfmGrid', {
        type: 'bubble',
        data: {
          datasets: [
            {
              label: 'contacts',
              data: rows.map((c) => ({
                x: c.frequency,
                y: c.recency,
                r: 6 + 4 * Math.sqrt(c.contacts),
                contacts: c.contacts,
              })),
              backgroundColor: 'rgba(51, 102, 204, 0.6)',
            },
          ],
        },
        options: {
          scales: {
            x: { min: 0.5, max: 5.5, title: { display: true, text: 'frequency score' } },
            y: { min: 0.5, max: 5.5, title: { display: true, text: 'recency score' } },
          },
        },
      });
      const count = (r, f) => rows.find((c) => c.recency === r && c.frequency === f)?.contacts ?? 0;
      fillTable(
        'rfmGrid',
        ['recency \\ frequency', '1', '2', '3', '4', '5'],
        [5, 4, 3, 2, 1].map((r) => [r, ...[1, 2, 3, 4, 5].map((f) => count(r, f))]),
      );
    },
    segmentSizes(rows) {
      const days = rows[0]?.points.map((p) => p.day) ?? [];
      draw('segmentSizes', {
        type: 'line',
        data: {
          labels: days,
          datasets: rows.map((s, i) => ({
            label: s.segmentId,
            data: s.points.map((p) => p.size),
            borderColor: COLORS[i % COLORS.length],
            backgroundColor: COLORS[i % COLORS.length],
          })),
        },
      });
      fillTable(
        'segmentSizes',
        ['segment', 'today', 'a week ago', 'peak'],
        rows.map((s) => {
          const sizes = s.points.map((p) => p.size);
          return [s.segmentId, sizes.at(-1) ?? 0, sizes.at(-8) ?? 0, Math.max(0, ...sizes)];
        }),
      );
    },
    roi(rows) {
      draw('roi', {
        type: 'bar',
        data: {
          labels: rows.map((r) => r.campaign),
          datasets: [
            { label: 'cost', data: rows.map((r) => r.cost), backgroundColor: COLORS[1] },
            { label: 'revenue', data: rows.map((r) => r.revenue), backgroundColor: COLORS[3] },
          ],
        },
      });
      fillTable(
        'roi',
        ['campaign', 'messages', 'conversions', 'revenue', 'cost', 'ROI (revenue / cost)'],
        rows.map((r) => [
          r.campaign,
          r.messages,
          r.conversions,
          fixed(r.revenue, 2),
          fixed(r.cost, 2),
          r.roi === null ? '—' : fixed(r.roi, 2),
        ]),
      );
    },
  };

  function render(data) {
    $('[data-testid="org"]').textContent = `org ${data.orgId}`;
    for (const [id, renderPanel] of Object.entries(RENDER)) {
      const panel = data[id];
      const section = document.querySelector(`[data-testid="panel-${id}"]`);
      const status = document.querySelector(`[data-testid="status-${id}"]`);
      const empty = panel.status !== 'ok' || panel.rows.length === 0;
      section.dataset.status = empty ? (panel.status === 'error' ? 'error' : 'no-data') : 'ok';
      if (empty) {
        charts[id]?.destroy();
        delete charts[id];
        status.textContent = panel.status === 'error' ? `Could not be read: ${panel.reason}` : 'no data yet';
        fillTable(id, [], []);
      } else {
        status.textContent = '';
        renderPanel(panel.rows);
      }
    }
  }

  async function load() {
    const res = await fetch(`${base}data`, { credentials: 'same-origin' });
    if (res.status === 401) return show('login');
    if (!res.ok) throw new Error(`the dashboard data failed: ${res.status}`);
    show('ready');
    render(await res.json());
  }

  $('#login').addEventListener('submit', async (event) => {
    event.preventDefault();
    const error = $('[data-testid="login-error"]');
    error.textContent = '';
    const res = await fetch(`${base}session`, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey: $('#api-key').value.trim() }),
    });
    if (!res.ok) {
      const problem = await res.json().catch(() => ({}));
      error.textContent = problem.detail ?? `Login failed (${res.status})`;
      return;
    }
    $('#api-key').value = '';
    await load();
  });

  $('#logout').addEventListener('click', async () => {
    await fetch(`${base}logout`, { method: 'POST', credentials: 'same-origin' });
    show('login');
  });

  load().catch((err) => {
    document.body.dataset.state = 'failed';
    $('[data-testid="login-error"]').textContent = err.message;
    show('login');
  });
})();
