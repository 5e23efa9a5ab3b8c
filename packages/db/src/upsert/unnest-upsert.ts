import { type Statement as SQL, stmt as sql } from '../statement.ts';

/** Postgres element types a column travels as; each becomes one array parameter. */
export type ArrayType =
  | 'bigint'
  | 'text'
  | 'integer'
  | 'boolean'
  | 'timestamptz'
  | 'jsonb'
  | 'bigint[]';

export interface MergedColumn<R> {
  name: string;
  type: ArrayType;
  /** The row's value; `undefined` = this observation did not report the field. */
  value(row: R): unknown;
  /** A count, merged by the table's `metricsClock` instead of `observed_at`. */
  metric?: true;
  /**
   * When the observation's value wins, if not by being newer (SQL over `t`, the stored row, and
   * `excluded`); an older observation's value still fills a field the store has none for.
   */
  winsWhen?: string;
  /** The whole SET expression instead, given the one the rule above would make. */
  set?: (merged: string) => string;
}

export interface EntityTable<R> {
  table: 'users' | 'tweets' | 'media';
  key: { name: string; type: ArrayType; value(row: R): string };
  /** Fields merged by the observation rule (see `mergeSet`). */
  merged: MergedColumn<R>[];
  /**
   * Extra columns with their own insert value and conflict expression (t = stored row); the
   * value may depend on when the page was observed.
   */
  extra?: {
    name: string;
    type: ArrayType;
    value(row: R, observedAt: Date): unknown;
    onConflict: string;
  }[];
  /** Columns of the row as written that the CTE returns besides `k` and `created`. */
  returning?: string[];
  /**
   * The column holding when the `metric` columns were observed: set by an observation that
   * reports at least one of them, NULL until one does. An observation that reports none is
   * partial (a user lookup with only id, name and username): once a full observation has dated
   * the row it does not move `observed_at` either, so the fuller observations before and after
   * it still order the other fields (its own newer fields win when written, but a full
   * observation older than it, written later, may replace them: one clock per field group, not
   * per field).
   */
  metricsClock?: string;
}

/** A `\udXXX` escape not itself escaped: JSON.stringify writes only a lone surrogate so. */
const LONE_SURROGATE_ESCAPE = /(?<=(?:^|[^\\])(?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/g;

/**
 * jsonb refuses a lone UTF-16 surrogate (a provider string cut inside an emoji), and one such
 * field made the whole page unstorable; it becomes U+FFFD, as it does in text columns (the
 * driver's UTF-8 encoding) — the raw body keeps what came.
 */
function wellFormedJson(json: string): string {
  return json.includes('\\ud') ? json.replace(LONE_SURROGATE_ESCAPE, '\\ufffd') : json;
}

/** Turns a JS value into the element a `$n::type[]` array parameter carries. */
export function encodeElement(type: ArrayType, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  switch (type) {
    case 'timestamptz':
      return value instanceof Date ? value.toISOString() : String(value);
    case 'jsonb':
      return wellFormedJson(JSON.stringify(value));
    case 'bigint[]':
      return `{${(value as string[]).join(',')}}`;
    default:
      return value;
  }
}

/** `unnest` cannot take an array of arrays (it flattens them): those travel as text. */
function paramType(type: ArrayType): string {
  return type === 'jsonb' || type === 'bigint[]' ? 'text' : type;
}

const NEEDS_ESCAPE = /[\\"]/g;

/** One element of an array literal: quoted, with `\` and `"` escaped. */
function quoteElement(text: string): string {
  NEEDS_ESCAPE.lastIndex = 0;
  return NEEDS_ESCAPE.test(text) ? `"${text.replace(NEEDS_ESCAPE, '\\$&')}"` : `"${text}"`;
}

/**
 * The Postgres array literal (`{…}`) of a column's values, built in one pass. Handing
 * node-postgres a JS array instead costs a copy of the array in `encodeElement`'s elements,
 * then per element a `prepareValue`, two regex replaces and string concatenations (profiled:
 * ≈ 0.5 ms of a 100-tweet page). Finite integers and booleans travel bare; everything else
 * is quoted and escaped, so no value can break out of its element.
 */
export function arrayLiteral(type: ArrayType, values: readonly unknown[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i += 1) {
    if (i > 0) out += ',';
    const element = encodeElement(type, values[i]);
    if (element === null) out += 'NULL';
    else if (typeof element === 'boolean') out += element ? 't' : 'f';
    else if (typeof element === 'number' && Number.isSafeInteger(element)) out += String(element);
    else if (typeof element === 'bigint') out += element.toString();
    else if (typeof element === 'string') out += quoteElement(element);
    else if (element instanceof Date) out += quoteElement(element.toISOString());
    else
      out += quoteElement(typeof element === 'object' ? JSON.stringify(element) : String(element));
  }
  return `${out}}`;
}

export function arrayParam(type: ArrayType, values: readonly unknown[]): SQL {
  return sql`${sql.param(arrayLiteral(type, values))}::${sql.raw(paramType(type))}[]`;
}

/** The element as read back out of `unnest`, cast to its column type. */
export function castFromParam(type: ArrayType, expression: string): string {
  return type === 'jsonb' || type === 'bigint[]' ? `${expression}::${type}` : expression;
}

/**
 * The merge rule for one field, in an ON CONFLICT SET (t = the stored row, excluded = this
 * observation, whose value is NULL when it did not report the field or reported "none"):
 * - the observation is at least as new as the stored one: its value wins where it has one;
 * - it is older: it only fills a field the store has no value for;
 * - a NULL never erases a stored value.
 *
 * Why "none" (null) does not clear a field: ON CONFLICT only sees the proposed row, which
 * cannot carry "not reported" apart from "reported as none" per field. Telling them apart
 * would take one statement per set of reported fields, and rows split over several statements
 * lose the global key order that keeps parallel writers from deadlocking (measured: the bench
 * deadlocked on users within seconds). In the data the two are the same fact anyway: X omits
 * an empty location or alt_text rather than sending null, and a cleared bio comes back as "".
 * The difference still matters where it is real: a reported size with no faces
 * (`faces: { orig: [] }`) or `focusRects: []` deletes the stored boxes, `undefined` leaves
 * them (see faces.ts).
 */
function mergeSet(
  column: string,
  clock = 'observed_at',
  winsWhen?: string,
  set?: (merged: string) => string,
): string {
  // Strictly newer: of two observations at the same instant the first written stays, as in
  // the metrics history (its insert does nothing on the same (id, observed_at)).
  const newer =
    winsWhen ??
    (clock === 'observed_at'
      ? 'excluded.observed_at > t.observed_at'
      : `(t.${clock} is null or excluded.${clock} > t.${clock})`);
  const merged = `case when ${newer} then coalesce(excluded.${column}, t.${column}) else coalesce(t.${column}, excluded.${column}) end`;
  return `${column} = ${set === undefined ? merged : set(merged)}`;
}

export interface EntityCteOptions {
  /** CTE name; it returns `k` (the key) and `created` (true when this statement inserted it). */
  name: string;
  observedAt: Date;
}

/**
 * One entity table's upsert as a data-modifying CTE: `INSERT … SELECT FROM unnest(…) ON
 * CONFLICT DO UPDATE`, one array parameter per column, so one statement per table and page
 * whatever its row count (a page never nears Postgres's 65,535-parameter limit: a statement
 * has a few dozen parameters). Rows (already folded and sorted by key) are inserted in key
 * order, so parallel writers lock shared rows in the same order. Columns no row reported are
 * left out altogether.
 */
export function entityCte<R>(spec: EntityTable<R>, rows: R[], options: EntityCteOptions): SQL {
  // Each column's values are read once (a value function may build objects, e.g. variants).
  const columns: MergedColumn<R>[] = [];
  const columnValues: unknown[][] = [];
  for (const column of spec.merged) {
    const values = rows.map((row) => column.value(row));
    if (values.some((value) => value !== undefined)) {
      columns.push(column);
      columnValues.push(values);
    }
  }
  const extra = spec.extra ?? [];
  // The counts' clock, from the values read above: the page's time on rows that reported one.
  const clock = spec.metricsClock;
  const metricValues = columnValues.filter((_, index) => columns[index]?.metric === true);
  const clockColumn =
    clock === undefined
      ? []
      : [
          {
            name: clock,
            type: 'timestamptz' as const,
            values: rows.map((_, row) =>
              metricValues.some((values) => values[row] !== undefined) ? options.observedAt : null,
            ),
          },
        ];
  const names = [
    spec.key.name,
    ...columns.map((c) => c.name),
    ...extra.map((c) => c.name),
    ...clockColumn.map((c) => c.name),
  ];
  const types = [
    spec.key.type,
    ...columns.map((c) => c.type),
    ...extra.map((c) => c.type),
    ...clockColumn.map((c) => c.type),
  ];
  const params = [
    arrayParam(
      spec.key.type,
      rows.map((row) => spec.key.value(row)),
    ),
    ...columns.map((column, index) => arrayParam(column.type, columnValues[index] ?? [])),
    ...extra.map((column) =>
      arrayParam(
        column.type,
        rows.map((row) => column.value(row, options.observedAt)),
      ),
    ),
    ...clockColumn.map((column) => arrayParam(column.type, column.values)),
  ];
  const aliases = names.map((_, index) => `c${index}`);
  const selectList = aliases.map((alias, index) => castFromParam(types[index]!, `i.${alias}`));
  const sets = [
    ...columns.map((column) =>
      mergeSet(
        column.name,
        column.metric && clock !== undefined ? clock : 'observed_at',
        column.winsWhen,
        column.set,
      ),
    ),
    ...extra.map((column) => `${column.name} = ${column.onConflict}`),
    ...clockColumn.map(
      (column) => `${column.name} = greatest(t.${column.name}, excluded.${column.name})`,
    ),
    clock === undefined
      ? 'observed_at = greatest(t.observed_at, excluded.observed_at)'
      : // A partial observation moves the clock only of a row no full one has dated yet: rows
        // seen only in lookups still order their fields newest-first among themselves.
        `observed_at = case when excluded.${clock} is null and t.${clock} is not null then t.observed_at else greatest(t.observed_at, excluded.observed_at) end`,
    'first_seen_at = least(t.first_seen_at, excluded.first_seen_at)',
    'last_seen_at = greatest(t.last_seen_at, excluded.last_seen_at)',
  ];
  const at = options.observedAt.toISOString();
  return sql.join([
    sql.raw(
      `${options.name} as (insert into ${spec.table} as t (${names.join(', ')}, observed_at, first_seen_at, last_seen_at) select ${selectList.join(', ')}, `,
    ),
    sql`${at}::timestamptz, ${at}::timestamptz, ${at}::timestamptz from unnest(`,
    sql.join(params, sql.raw(', ')),
    sql.raw(
      `) as i(${aliases.join(', ')}) on conflict (${spec.key.name}) do update set ${sets.join(', ')} returning ${[`${spec.key.name} as k`, '(xmax = 0) as created', ...(spec.returning ?? [])].join(', ')})`,
    ),
  ]);
}
