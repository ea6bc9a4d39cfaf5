// Two pages, built into the Python package (src/usageql/static, git-ignored) and served by
// usageql under /static/: the dashboard (dashboard.html, served at /dashboard) and GraphiQL
// (graphiql.html, served at /graphql). No asset comes from anywhere else: the pages' CSP allows
// only their own origin.
import { resolve } from "node:path";
import { defineConfig } from "vitest/config";
import { licences } from "./plugins/licences.ts";

export default defineConfig({
  base: "/static/",
  build: {
    outDir: resolve(import.meta.dirname, "../src/usageql/static"),
    emptyOutDir: true,
    assetsInlineLimit: 0, // every asset a file of its own: nothing for the CSP to allow inline
    chunkSizeWarningLimit: 2500, // GraphiQL (CodeMirror, graphql-js, React) is one large chunk
    rollupOptions: {
      // React libraries mark their modules "use client", which means nothing outside a server
      // components framework; every other warning stays.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
      input: {
        dashboard: resolve(import.meta.dirname, "dashboard.html"),
        graphiql: resolve(import.meta.dirname, "graphiql.html"),
      },
    },
  },
  plugins: [licences()],
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "node",
  },
});
