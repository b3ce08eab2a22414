// The runtime's floor: a JS worker that only forwards (no framework, no session).
import { forward } from "./forward.mjs";

export default {
  fetch: (request, env) => forward(request, env.ORIGIN_URL),
};
