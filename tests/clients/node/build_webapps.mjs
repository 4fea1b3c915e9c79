// Bundles the test mini apps of tests/clients/webapps/ (one written with @telegram-apps/sdk, one
// with @twa-dev/sdk, both installed here from npm) with esbuild: `<outdir>/<app>/index.html` and
// `<outdir>/<app>/app.js`, ready for `plaza app deploy <app> <outdir>/<app>`.
//
// Usage: node build_webapps.mjs <outdir>. Driven by crates/server/tests/miniapp_sdk.rs.

import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const [outdir] = process.argv.slice(2);
if (!outdir) {
  console.error("usage: node build_webapps.mjs <outdir>");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const sources = join(here, "../webapps");

for (const app of ["tma", "twa"]) {
  mkdirSync(join(outdir, app), { recursive: true });
  await build({
    entryPoints: [join(sources, app, "main.js")],
    outfile: join(outdir, app, "app.js"),
    bundle: true,
    format: "esm",
    target: "es2022",
    // The sources live outside this package: their imports resolve in its node_modules.
    nodePaths: [join(here, "node_modules")],
    logLevel: "warning",
  });
  copyFileSync(join(sources, app, "index.html"), join(outdir, app, "index.html"));
  console.log(`built ${app} into ${join(outdir, app)}`);
}
