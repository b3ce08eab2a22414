// Counts every crossing between wasm and JS, for bench/crossings/entry.mjs. Imported
// before the worker's glue, which instantiates its wasm at module load: every import the
// wasm calls (wasm -> JS) and every export JS calls (JS -> wasm) is counted by name, and
// the Headers / Request / Response methods and accessors by kind, whoever calls them.
export const counts = new Map();

export function count(name) {
  counts.set(name, (counts.get(name) ?? 0) + 1);
}

// wasm-bindgen names imports `__wbg_<method>_<hash>`: keep the method.
const short = (name) => name.replace(/^__wbg_/, "").replace(/_+h?[0-9a-f]{16}$/, "");

function counted(fns, prefix) {
  const out = {};
  for (const [name, value] of Object.entries(fns)) {
    out[name] = typeof value === "function"
      ? function (...args) { count(`${prefix}${short(name)}`); return value.apply(this, args); }
      : value;
  }
  return out;
}

const Instance = WebAssembly.Instance;
WebAssembly.Instance = function (module, imports) {
  const wrapped = Object.fromEntries(Object.entries(imports).map(([ns, fns]) => [ns, counted(fns, "wasm->js ")]));
  const instance = new Instance(module, wrapped);
  return { exports: counted(instance.exports, "js->wasm ") };
};

function methods(proto, label, names) {
  for (const name of names) {
    const real = proto[name];
    proto[name] = function (...args) { count(`${label}.${name}`); return real.apply(this, args); };
  }
}

function accessors(proto, label, names) {
  for (const name of names) {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (!d?.get) continue;
    Object.defineProperty(proto, name, {
      ...d,
      get() { count(`${label}.${name}`); return d.get.call(this); },
    });
  }
}

methods(Headers.prototype, "Headers", ["get", "set", "delete", "has", "append", "keys", "entries", "forEach", "getSetCookie"]);
accessors(Request.prototype, "Request", ["url", "method", "headers", "body", "cf", "redirect", "signal"]);
accessors(Response.prototype, "Response", ["status", "statusText", "headers", "body", "ok"]);
