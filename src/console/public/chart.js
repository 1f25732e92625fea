const SVG_NS = 'http://www.w3.org/2000/svg';
const PADDING = { left: 44, right: 10, top: 10, bottom: 24 };
const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;

/**
 * Draws the connections and users counts of `points` (`{ t, connections, users }`, oldest first)
 * as an inline SVG filling `container`, and says in its label what the picture shows (for screen
 * readers). The time axis spans the whole minutes since the first point, one at least and
 * `maxWindowMs` at most, so that a console just opened shows its first minute across the width.
 * Returns the span drawn, in milliseconds.
 */
export function drawChart(container, points, maxWindowMs, now = Date.now()) {
  const width = Math.max(container.clientWidth, 200);
  const height = Math.max(container.clientHeight, 120);
  const first = points.find((point) => point.t >= now - maxWindowMs);
  const elapsed = first === undefined ? 0 : now - first.t;
  const windowMs = Math.min(maxWindowMs, Math.max(MINUTE_MS, Math.ceil(elapsed / MINUTE_MS) * MINUTE_MS));
  const start = now - windowMs;
  const recent = points.filter((point) => point.t >= start && point.t <= now);
  const top = niceMax(Math.max(0, ...recent.map((point) => Math.max(point.connections, point.users))));
  const x = (t) => PADDING.left + ((t - start) / windowMs) * (width - PADDING.left - PADDING.right);
  const y = (value) => PADDING.top + (1 - value / top) * (height - PADDING.top - PADDING.bottom);

  const svg = svgElement('svg', {
    viewBox: `0 0 ${width} ${height}`,
    'aria-hidden': 'true',
    focusable: 'false',
  });
  for (const value of [0, top / 2, top]) {
    svg.append(
      svgElement('line', {
        class: 'grid',
        x1: PADDING.left,
        x2: width - PADDING.right,
        y1: y(value),
        y2: y(value),
      }),
      text(String(value), { x: PADDING.left - 6, y: y(value) + 4, 'text-anchor': 'end' }),
    );
  }
  const step = windowMs <= MINUTE_MS ? 15 * SECOND_MS : MINUTE_MS;
  for (let ago = windowMs; ago >= 0; ago -= step) {
    const anchor = ago === windowMs ? 'start' : ago === 0 ? 'end' : 'middle';
    const label = ago === 0 ? 'now' : ago % MINUTE_MS === 0 ? `−${ago / MINUTE_MS}m` : `−${ago / SECOND_MS}s`;
    svg.append(text(label, { x: x(now - ago), y: height - 6, 'text-anchor': anchor }));
  }

  if (recent.length === 0) {
    svg.append(
      text('Waiting for the first stats…', {
        class: 'empty-label',
        x: width / 2,
        y: height / 2,
        'text-anchor': 'middle',
      }),
    );
    container.replaceChildren(svg);
    container.setAttribute('aria-label', 'Connections chart: no data yet');
    return windowMs;
  }

  // A count holds until the next sample: the line runs on to now from the last one.
  const series = [...recent, { ...recent[recent.length - 1], t: now }];
  const path = (key) =>
    series
      .map((point, index) => `${index === 0 ? 'M' : 'L'}${x(point.t).toFixed(1)},${y(point[key]).toFixed(1)}`)
      .join('');
  const baseline = y(0).toFixed(1);
  svg.append(
    svgElement('path', {
      class: 'area-connections',
      d: `${path('connections')}L${x(now).toFixed(1)},${baseline}L${x(series[0].t).toFixed(1)},${baseline}Z`,
    }),
    svgElement('path', { class: 'series-connections', d: path('connections') }),
    svgElement('path', { class: 'series-users', d: path('users') }),
  );
  container.replaceChildren(svg);

  const last = recent[recent.length - 1];
  const peak = Math.max(...recent.map((point) => point.connections));
  container.setAttribute(
    'aria-label',
    `Connections chart, last ${windowMs / MINUTE_MS} minutes: now ${last.connections} connections and ` +
      `${last.users} users; peak ${peak} connections`,
  );
  return windowMs;
}

/** The axis top: 1, 2, 4, 6, 8 or 10 times a power of ten (2 at least), so that its half is a whole number too. */
function niceMax(value) {
  if (value <= 2) return 2;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 4, 6, 8, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

function text(content, attributes) {
  const element = svgElement('text', { class: 'axis-label', ...attributes });
  element.textContent = content;
  return element;
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}
