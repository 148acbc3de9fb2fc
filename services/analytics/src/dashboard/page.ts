// The dashboard's one HTML page. It holds no data: app.js asks for it with the session cookie
// and shows the login form while there is none.

/** Each panel: its id (the key in DashboardData and the suffix of its data-testids) and title. */
export const PANELS = [
  ['emailFunnel', 'Email funnel'],
  ['ruleFirings', 'Rule firings and effectiveness'],
  ['experiments', 'Experiment results (95% intervals)'],
  ['rfmGrid', 'RFM grid (contacts by recency and frequency)'],
  ['segmentSizes', 'Segment sizes over time'],
  ['roi', 'ROI per campaign'],
] as const;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `assets` is where the page's files are served, e.g. `/analytics/dashboard/`. */
export function dashboardPage(assets: string): string {
  const base = escapeHtml(assets);
  const panels = PANELS.map(
    ([id, title]) => `
      <section class="panel" data-testid="panel-${id}" data-panel="${id}">
        <h2>${escapeHtml(title)}</h2>
        <p class="status" data-testid="status-${id}">Loading…</p>
        <div class="chart"><canvas data-testid="chart-${id}" role="img" aria-label="${escapeHtml(title)}"></canvas></div>
        <table data-testid="table-${id}"><caption>${escapeHtml(title)}: the chart's numbers</caption></table>
      </section>`,
  ).join('');
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>CMIS analytics</title>
  <link rel="stylesheet" href="${base}app.css">
  <script src="${base}chart.js" defer></script>
  <script src="${base}app.js" defer data-base="${base}"></script>
</head>
<body data-state="loading">
  <header>
    <h1>CMIS analytics</h1>
    <span data-testid="org"></span>
    <button type="button" id="logout" hidden>Log out</button>
  </header>
  <main>
    <form id="login" data-testid="login" hidden>
      <h2>Log in</h2>
      <label for="api-key">Your organization's API key (scope analytics:read)</label>
      <input id="api-key" name="apiKey" type="password" autocomplete="off" required>
      <button type="submit">Open the dashboard</button>
      <p class="error" data-testid="login-error" role="alert"></p>
    </form>
    <div id="dashboard" data-testid="dashboard" hidden>${panels}
    </div>
  </main>
</body>
</html>
`;
}
