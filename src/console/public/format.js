/** Small formatting and DOM helpers of the console (no framework). */

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export function formatCount(value) {
  return typeof value === 'number' && Number.isFinite(value) ? integer.format(value) : '–';
}

export function formatRate(value) {
  return typeof value === 'number' && Number.isFinite(value) ? decimal.format(value) : '–';
}

export function formatBytes(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let amount = value;
  let unit = 0;
  while (amount >= 1024 && unit < units.length - 1) {
    amount /= 1024;
    unit += 1;
  }
  return `${decimal.format(amount)} ${units[unit]}`;
}

export function formatDuration(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '–';
  const s = Math.floor(seconds);
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${s % 60}s`;
  return `${s}s`;
}

export function formatMs(value) {
  return typeof value === 'number' && Number.isFinite(value) ? `${decimal.format(value)} ms` : '–';
}

/** `hh:mm:ss`, in the browser's time zone. */
export function formatTime(timestamp) {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString(undefined, { hour12: false });
}

/** Date and time, short. */
export function formatDateTime(timestamp) {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime())
    ? String(timestamp ?? '')
    : date.toLocaleString(undefined, { hour12: false, dateStyle: 'short', timeStyle: 'medium' });
}

/** JSON of `value`, cut to `max` characters. */
export function summarize(value, max = 240) {
  if (value === undefined) return '';
  let text;
  try {
    text = JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * `h('td', { class: 'num' }, 'text', child)`: an element with attributes (`on*` functions become
 * listeners) and children (strings become text: nothing is ever parsed as HTML).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A table body's single row saying why it is empty. */
export function emptyRow(columns, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: columns }, text));
}
