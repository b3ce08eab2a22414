// What every peer does with the request once its session is known: the client's
// x-session-* headers dropped, the session's own set, the request sent on to the origin
// (body streamed, redirects passed through), the origin's response returned as is.
export function forward(request, origin, session) {
  const url = new URL(request.url);
  const headers = new Headers(request.headers);
  for (const name of [...headers.keys()]) if (name.startsWith("x-session-")) headers.delete(name);
  for (const [name, value] of Object.entries(session || {})) if (value != null) headers.set(name, value);
  return fetch(origin + url.pathname + url.search,
    { method: request.method, headers, body: request.body, redirect: "manual" });
}
