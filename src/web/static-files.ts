/** The pages' own scripts and styles under /static/, and zxcvbn's browser builds for the new-password form. */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

const STATIC_ROOT = join(dirname(fileURLToPath(import.meta.url)), "static");
const requireFrom = createRequire(import.meta.url).resolve;
const ONE_HOUR_MS = 3600_000;

export async function registerStaticFiles(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, { root: STATIC_ROOT, prefix: "/static/", index: false, maxAge: ONE_HOUR_MS });
  // Served from the installed packages, so nothing is copied into the tree.
  for (const [name, pkg] of [
    ["zxcvbn-core", "@zxcvbn-ts/core"],
    ["zxcvbn-common", "@zxcvbn-ts/language-common"],
  ] as const) {
    await app.register(fastifyStatic, {
      root: join(dirname(requireFrom(`${pkg}/package.json`)), "dist"),
      prefix: `/static/vendor/${name}/`,
      allowedPath: (path) => path === "/zxcvbn-ts.min.js",
      decorateReply: false,
      index: false,
      maxAge: ONE_HOUR_MS,
    });
  }
}
