// The GraphQL types of every operation and fragment in src/, generated from the server's
// schema.graphql (build output in src/gql/, git-ignored: `npm run codegen` writes it).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**"],
  ignoreNoDocuments: false,
  silent: true,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: "string",
        enumsAsConst: true,
        useTypeImports: true,
        strictScalars: true,
        // BigInt is a JSON number (token sums stay below 2^53 in practice; see schema.graphql).
        scalars: { DateTime: "string", BigInt: "number", JSON: "unknown" },
        skipTypename: true,
      },
    },
    // The schema's own types and enums (as const objects): composed panels are built from them
    // (Dimension, Metric, Metrics, UsageFilter...), not only from the operations above.
    "src/gql/schema.ts": {
      plugins: ["typescript"],
      config: {
        enumsAsConst: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { DateTime: "string", BigInt: "number", JSON: "unknown" },
        skipTypename: true,
      },
    },
  },
};

export default config;
