// Writes docs/openapi.json: the OpenAPI document a development server serves at
// /api/v1/openapi.json (development mode, so the development-only logins are in it too).
// `npm run openapi` then generates src/client/openapi-types.ts from it.
import { writeFileSync } from "node:fs";
import { buildApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { createContext } from "../src/context.js";
import { generateSecrets } from "../src/secrets.js";
import { openDatabase } from "../src/store/database.js";

const config = loadConfig("development", { LATCHKEY_LOG_LEVEL: "silent" });
const database = await openDatabase(":memory:");
const ctx = createContext({ config, database, secrets: generateSecrets() });
const app = await buildApp({ config, ctx });
const response = await app.inject({ method: "GET", url: "/api/v1/openapi.json" });
if (response.statusCode !== 200) throw new Error(`GET /api/v1/openapi.json answered ${response.statusCode}: ${response.body}`);
writeFileSync("docs/openapi.json", `${JSON.stringify(response.json(), null, 2)}\n`);
await app.close();
await database.close();
