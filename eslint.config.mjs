// Lint for the infrastructure program (the app in app/ has its own tooling; test/fixtures/ holds
// apps written the way old ones are, on purpose).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "app/", ".tools/", ".pulumi-state/", "bin/", "toolchain/", "test/fixtures/"] },
  ...tseslint.configs.strict,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
);
