// Lint for the infrastructure program (the app in app/ has its own tooling).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "app/", ".tools/", ".pulumi-state/", "bin/", "toolchain/"] },
  ...tseslint.configs.strict,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
);
