import type { ErrorBody } from './errors.js';

/** Server → client application event: `{ type, data, timestamp }`. */
export interface Envelope<TType extends string = string, TData = unknown> {
  type: TType;
  data: TData;
  timestamp: string;
}

export type AckSuccess<T> = { ok: true; data: T };
export type AckFailure = { ok: false; error: ErrorBody };
export type AckResponse<T> = AckSuccess<T> | AckFailure;

export function envelope<TType extends string, TData>(type: TType, data: TData): Envelope<TType, TData> {
  return { type, data, timestamp: new Date().toISOString() };
}

export function ackFailure(error: ErrorBody): AckFailure {
  return { ok: false, error };
}
