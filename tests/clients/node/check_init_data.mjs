// Checks mini-app init data the way a backend using @telegram-apps/init-data-node does.
// Reads {"token", "init_data"} as JSON on standard input; prints what the library made of it.
// Driven by crates/server/tests/webapps.rs.

import { isValid, parse, validate } from "@telegram-apps/init-data-node";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { token, init_data: initData } = JSON.parse(input);
let error = null;
try {
  // Plaza's test clock runs ahead of the wall clock, so expiry is not checked here.
  validate(initData, token, { expiresIn: 0 });
} catch (e) {
  error = `${e.name}: ${e.message}`;
}
const data = parse(initData);
console.log(
  JSON.stringify({
    valid: error === null,
    error,
    valid_other_token: isValid(initData, `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`, { expiresIn: 0 }),
    user_id: data.user?.id ?? null,
    query_id: data.query_id ?? null,
    signature: data.signature ?? null,
  }),
);
