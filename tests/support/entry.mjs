// Test-only entry: runs the built worker unchanged, with the D1 binding wrapped so the
// tests can count every statement the worker executes (GET /__test/d1 returns and
// resets the log) and make D1 fail on demand (POST /__test/d1?fail=read|write|all|none).
import Gate from "../../build/index.js";

const EXECUTE = new Set(["first", "all", "run", "raw"]);
let log = [];
let failing = "none";

function isWrite(sql) {
  return !/^\s*select\b/i.test(sql);
}

function wrapStatement(stmt, sql) {
  return new Proxy(stmt, {
    get(target, prop) {
      if (prop === "bind") return (...args) => wrapStatement(target.bind(...args), sql);
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
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" && prop !== "constructor" ? value.bind(target) : value;
    },
  });
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__test/d1") {
      if (request.method === "POST") failing = url.searchParams.get("fail") ?? "none";
      const body = JSON.stringify(log);
      log = [];
      return new Response(body, { headers: { "content-type": "application/json" } });
    }
    const wrapped = { ...env, SESSIONS_DB: env.SESSIONS_DB && wrapDatabase(env.SESSIONS_DB) };
    return Gate.prototype.fetch.call({ env: wrapped, ctx }, request);
  },
};
