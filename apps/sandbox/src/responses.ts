/** A response decided by a handler, before faults and provider headers are applied. */
export interface SandboxResponse {
  status: number;
  /** Chunks of cached JSON (the X timeline, written without joining them), or one body. */
  body: string | Buffer | Buffer[];
  headers?: Record<string, string>;
  /** Cents charged (agntdata, successful requests only). */
  costCents?: number;
}

export function json(
  status: number,
  body: unknown,
  headers?: Record<string, string>,
): SandboxResponse {
  return headers === undefined
    ? { status, body: JSON.stringify(body) }
    : { status, body: JSON.stringify(body), headers };
}

const X_PROBLEMS = 'https://api.twitter.com/2/problems';

/** The X 400 for a bad query parameter, as in the postman collection's "Bad Request" examples. */
export function xInvalidRequest(
  parameter: string,
  value: string,
  message: string,
): SandboxResponse {
  return json(400, {
    errors: [{ parameters: { [parameter]: [value] }, message }],
    title: 'Invalid Request',
    detail: 'One or more parameters to your request was invalid.',
    type: `${X_PROBLEMS}/invalid-request`,
  });
}

/** 401 without or with a wrong bearer token (postman collection, "401 Unauthorized"). */
export const X_UNAUTHORIZED = json(401, {
  title: 'Unauthorized',
  type: 'about:blank',
  status: 401,
  detail: 'Unauthorized',
});

/**
 * X's 429 as recorded (the Postman collection's "429 Rate Limit Exceeded"): plain text, not
 * JSON, so a client that parses the body before looking at the status fails here as it would
 * against X.
 */
export const X_TOO_MANY_REQUESTS: SandboxResponse = {
  status: 429,
  body: 'Rate limit exceeded\n',
  headers: { 'content-type': 'text/plain;charset=utf-8' },
};

export function xServerError(status: 500 | 503): SandboxResponse {
  const title = status === 500 ? 'Internal Server Error' : 'Service Unavailable';
  return json(status, { title, detail: title, type: 'about:blank', status });
}

/**
 * A user X cannot serve: HTTP 200 with only `errors[]` (postman "User Not Found"; the
 * OpenAPI spec's resource-unavailable and not-authorized-for-resource problems).
 */
export function xUserProblem(
  reason: 'not_found' | 'suspended' | 'protected',
  parameter: 'id' | 'username',
  value: string,
): SandboxResponse {
  if (reason === 'not_found') {
    return json(200, {
      errors: [
        {
          value,
          detail: `Could not find user with ${parameter}: [${value}].`,
          title: 'Not Found Error',
          resource_type: 'user',
          parameter,
          resource_id: value,
          type: `${X_PROBLEMS}/resource-not-found`,
        },
      ],
    });
  }
  if (reason === 'suspended') {
    return json(200, {
      errors: [
        {
          resource_id: value,
          parameter,
          resource_type: 'user',
          section: 'data',
          title: 'Forbidden',
          value,
          detail: `User has been suspended: [${value}].`,
          type: `${X_PROBLEMS}/resource-unavailable`,
        },
      ],
    });
  }
  return json(200, {
    errors: [
      {
        resource_id: value,
        parameter,
        resource_type: 'user',
        section: 'data',
        title: 'Authorization Error',
        value,
        detail: `Sorry, you are not authorized to see the user with ${parameter}: [${value}].`,
        type: `${X_PROBLEMS}/not-authorized-for-resource`,
      },
    ],
  });
}

/** agntdata's error envelope: `{success:false, error:{code, message, retryAfter?}}`. */
export function agntdataError(
  status: number,
  code: string,
  message: string,
  retryAfter?: number,
): SandboxResponse {
  const error: Record<string, unknown> = { code, message };
  if (retryAfter !== undefined) error.retryAfter = retryAfter;
  return json(status, { success: false, error });
}

/** FastAPI's 422 (../../shared/fixtures/real/agntdata/validation_error_422_docs_example.json). */
export function agntdataValidationError(
  issues: { loc: (string | number)[]; msg: string; type: string }[],
): SandboxResponse {
  return json(422, { detail: issues });
}
