/** The Zulip import on PostgreSQL, in a schema of its own; see zulip-export-suite.ts. */
import { freshPostgresUrl } from "../helper.js";
import { importSuite } from "./zulip-export-suite.js";

const postgres = await freshPostgresUrl();
if (postgres !== null) importSuite("PostgreSQL", async () => postgres);
