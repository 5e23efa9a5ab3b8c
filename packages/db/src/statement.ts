/**
 * A small SQL builder for the statements written on every page (the upsert CTEs). It has the
 * shape of drizzle's `sql` (tagged template, `raw`, `param`, `join`) but its output is a plain
 * list of text and parameters: drizzle's `sql` objects and `sqlToQuery` cost ≈ 0.8 ms of worker
 * CPU per 100-tweet page (profiled in bench:crawl), for statements that use nothing of drizzle
 * beyond text and `$n` placeholders.
 */

const PARAM = Symbol('statement.param');

interface Param {
  readonly [PARAM]: true;
  readonly value: unknown;
}

export class Statement {
  constructor(readonly parts: readonly (string | Param | Statement)[]) {}
}

function isParam(value: unknown): value is Param {
  return typeof value === 'object' && value !== null && PARAM in value;
}

/**
 * `stmt\`… ${value} …\``: a value becomes a parameter, a `Statement` is inlined, `stmt.raw`
 * text goes in verbatim.
 */
export function stmt(strings: TemplateStringsArray, ...values: unknown[]): Statement {
  const parts: (string | Param | Statement)[] = [];
  strings.forEach((text, i) => {
    if (text !== '') parts.push(text);
    if (i < values.length) {
      const value = values[i];
      parts.push(value instanceof Statement || isParam(value) ? value : param(value));
    }
  });
  return new Statement(parts);
}

function param(value: unknown): Param {
  return { [PARAM]: true, value };
}

stmt.param = param;
stmt.raw = (text: string): Statement => new Statement([text]);
stmt.join = (items: readonly Statement[], separator: Statement | string = ''): Statement => {
  const parts: (string | Statement)[] = [];
  items.forEach((item, i) => {
    if (i > 0 && separator !== '') parts.push(separator);
    parts.push(item);
  });
  return new Statement(parts);
};

export interface Query {
  text: string;
  params: unknown[];
}

/** The statement as `$1…$n` text and its parameters, in order. */
export function toQuery(statement: Statement): Query {
  const params: unknown[] = [];
  let text = '';
  const walk = (node: Statement) => {
    for (const part of node.parts) {
      if (typeof part === 'string') text += part;
      else if (part instanceof Statement) walk(part);
      else {
        params.push(part.value);
        text += `$${params.length}`;
      }
    }
  };
  walk(statement);
  return { text, params };
}
