// Bench-only entry: the built worker unchanged, every wasm/JS crossing counted
// (count.mjs), and its bindings and fetch counted as calls. No queue consumer: what a
// request costs is counted, not the consumer's later work.
//   GET /__bench/crossings   the counts since the last call, and the requests they cover
import { counts, count } from "./count.mjs";
import Gate from "../../build/index.js";

let requests = 0;
const unwrapped = new WeakMap(); // counted statement -> the real one (batch wants those)

function countedCalls(target, label) {
  const proxy = new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop, t);
      if (typeof value !== "function" || prop === "constructor") return value;
      return (...args) => {
        count(`${label}.${String(prop)}`);
        if (prop === "batch") args[0] = args[0].map((s) => unwrapped.get(s) ?? s);
        const out = value.apply(t, args);
        // Statements carry on the count: prepare(...).bind(...).first().
        return out && typeof out === "object" && !(out instanceof Promise) ? countedCalls(out, label) : out;
      };
    },
  });
  unwrapped.set(proxy, target);
  return proxy;
}

const realFetch = globalThis.fetch;
globalThis.fetch = (...args) => {
  count("fetch");
  return realFetch(...args);
};

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__bench/crossings") {
      const body = { requests, counts: Object.fromEntries(counts) };
      counts.clear();
      requests = 0;
      return Response.json(body);
    }
    requests++;
    const wrapped = {
      ...env,
      SESSIONS_DB: env.SESSIONS_DB && countedCalls(env.SESSIONS_DB, "D1"),
      SESSION_SIGNALS: env.SESSION_SIGNALS && countedCalls(env.SESSION_SIGNALS, "Queue"),
    };
    return Gate.prototype.fetch.call({ env: wrapped, ctx }, request);
  },
};
