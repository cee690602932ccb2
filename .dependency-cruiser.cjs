/**
 * The layers of Latchkey and the directions imports may take between them:
 * cli → server → app → web → http → domain ← store, auth, mail. Checked by `npm run check`
 * and by test/architecture.test.ts.
 */
const outerLayers = "^src/(http|web|store|auth|mail|cli|client|import)/|^src/(app|server|context|config|seed)\\.ts$";

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "An import cycle: modules that must be loaded together belong together, or one of them depends on the wrong thing.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "domain-points-down",
      severity: "error",
      comment: "The domain holds the rules over ports; adapters and the HTTP layer depend on it, never the reverse.",
      from: { path: "^src/domain/" },
      to: { path: outerLayers },
    },
    {
      name: "http-below-web",
      severity: "error",
      comment: "The REST layer does not know the web pages; the web layer may use the REST layer's helpers.",
      from: { path: "^src/http/" },
      to: { path: "^src/(web|cli|store|mail)/|^src/(app|server|context|seed)\\.ts$" },
    },
    {
      name: "adapters-below-http",
      severity: "error",
      comment: "Storage, password and mail adapters implement domain ports, and the importer writes through them; they never reach up into HTTP, pages or the CLI.",
      from: { path: "^src/(store|auth|mail|import)/" },
      to: { path: "^src/(http|web|cli)/|^src/(app|server|context)\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default"] },
  },
};
