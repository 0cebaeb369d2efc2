/** A JSON call as tests make it: status and parsed body (plain text when the body is not JSON). */
export type ApiCall = <T = unknown>(method: string, route: string, body?: unknown) => Promise<{ status: number; body: T }>;

/** Returns an ApiCall against `baseUrl` with the bearer `token`. */
export function jsonApi(baseUrl: string, token: string): ApiCall {
  return async <T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${baseUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Plain-text routes such as the console log.
    }
    return { status: res.status, body: parsed as T };
  };
}
