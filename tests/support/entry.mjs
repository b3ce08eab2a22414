// Test-only entry: runs the built worker unchanged, with its bindings wrapped so the
// tests can see what it does:
//   GET  /__test/d1                      statements run since the last call [{sql, write}]
//                                        (a batch's each with `batch`: the batch's number)
//   POST /__test/d1?fail=read|write|all|none   make D1 fail (request path only)
//   GET  /__test/queue                   queue calls since the last call [{method, count}]
//   POST /__test/queue?fail=1|0          make the queue producer fail
//   POST /__test/enqueue                 send the request body (JSON) to the queue as is
//   GET  /__test/metrics                 Analytics Engine data points since the last call
//   GET  /__test/ratelimit               rate limiter calls since the last call [{binding, key}]
//   POST /__test/ratelimit?fail=1|0      make every rate limiter call fail
import Gate from "../../build/index.js";

const EXECUTE = new Set(["first", "all", "run", "raw"]);
let log = [];
let failing = "none";
let batches = 0;
const RAW = Symbol("raw statement");
const SQL = Symbol("statement sql");

function isWrite(sql) {
  return !/^\s*select\b/i.test(sql);
}

function wrapStatement(stmt, sql) {
  return new Proxy(stmt, {
    get(target, prop) {
      if (prop === "bind") return (...args) => wrapStatement(target.bind(...args), sql);
      if (prop === RAW) return target;
      if (prop === SQL) return sql;
      const value = Reflect.get(target, prop, target);
      if (EXECUTE.has(prop)) {
        return (...args) => {
          log.push({ sql, write: isWrite(sql) });
          if (failing === "all" || (failing === "write") === isWrite(sql) && failing !== "none") {
            return Promise.reject(new Error("D1_ERROR: injected failure"));
          }
          return value.apply(target, args);
        };
      }
      return typeof value === "function" && prop !== "constructor" ? value.bind(target) : value;
    },
  });
}

function wrapDatabase(db) {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql) => wrapStatement(target.prepare(sql), sql);
      if (prop === "batch") {
        // One transaction: it fails whole when any of its statements would.
        return (stmts) => {
          const batch = ++batches;
          const sqls = stmts.map((s) => s[SQL]);
          for (const sql of sqls) log.push({ sql, write: isWrite(sql), batch });
          const fails = (sql) => failing === "all" || (failing === "write") === isWrite(sql) && failing !== "none";
          if (sqls.some(fails)) return Promise.reject(new Error("D1_ERROR: injected failure"));
          return target.batch(stmts.map((s) => s[RAW]));
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" && prop !== "constructor" ? value.bind(target) : value;
    },
  });
}

let queueCalls = [];
let queueFailing = false;

function wrapQueue(queue) {
  return new Proxy(queue, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "send" || prop === "sendBatch") {
        return (body, ...rest) => {
          queueCalls.push({ method: prop, count: prop === "sendBatch" ? body.length : 1 });
          if (queueFailing) return Promise.reject(new Error("queue: injected failure"));
          return value.call(target, body, ...rest);
        };
      }
      return typeof value === "function" && prop !== "constructor" ? value.bind(target) : value;
    },
  });
}

let rateCalls = [];
let rateFailing = false;

// A rate limiting binding (any `*_LIMIT` binding), calls recorded; the constructor stays
// the binding's own (`Ratelimit`), which workers-rs checks.
function wrapLimiter(name, limiter) {
  return new Proxy(limiter, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "limit") {
        return (options) => {
          rateCalls.push({ binding: name, key: options?.key });
          if (rateFailing) return Promise.reject(new Error("ratelimit: injected failure"));
          return value.call(target, options);
        };
      }
      return typeof value === "function" && prop !== "constructor" ? value.bind(target) : value;
    },
  });
}

let points = [];

// The Analytics Engine dataset, its data points recorded as written.
function wrapDataset(dataset) {
  return new Proxy(dataset, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "writeDataPoint") {
        return (point) => {
          points.push(structuredClone(point));
          return value.call(target, point);
        };
      }
      return typeof value === "function" && prop !== "constructor" ? value.bind(target) : value;
    },
  });
}

const json = (v) => new Response(JSON.stringify(v), { headers: { "content-type": "application/json" } });

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__test/d1") {
      if (request.method === "POST") failing = url.searchParams.get("fail") ?? "none";
      const body = log;
      log = [];
      return json(body);
    }
    if (url.pathname === "/__test/queue") {
      if (request.method === "POST") queueFailing = url.searchParams.get("fail") === "1";
      const body = queueCalls;
      queueCalls = [];
      return json(body);
    }
    if (url.pathname === "/__test/ratelimit") {
      if (request.method === "POST") rateFailing = url.searchParams.get("fail") === "1";
      const body = rateCalls;
      rateCalls = [];
      return json(body);
    }
    if (url.pathname === "/__test/metrics") {
      const body = points;
      points = [];
      return json(body);
    }
    if (url.pathname === "/__test/enqueue") {
      await env.SESSION_SIGNALS.send(await request.json(), { contentType: "json" });
      return json({ sent: 1 });
    }
    const wrapped = {
      ...env,
      SESSIONS_DB: env.SESSIONS_DB && wrapDatabase(env.SESSIONS_DB),
      SESSION_SIGNALS: env.SESSION_SIGNALS && wrapQueue(env.SESSION_SIGNALS),
      SESSION_METRICS: env.SESSION_METRICS && wrapDataset(env.SESSION_METRICS),
      ...Object.fromEntries(
        Object.entries(env)
          .filter(([name, b]) => name.endsWith("_LIMIT") && typeof b?.limit === "function")
          .map(([name, b]) => [name, wrapLimiter(name, b)]),
      ),
    };
    return Gate.prototype.fetch.call({ env: wrapped, ctx }, request);
  },
  // The consumer and the cron see the real bindings.
  queue(batch, env, ctx) {
    return Gate.prototype.queue.call({ env, ctx }, batch);
  },
  scheduled(controller, env, ctx) {
    return Gate.prototype.scheduled.call({ env, ctx }, controller);
  },
};
