/**
 * Jest for mutation testing (`npm run mutate`): the unit tier only, so that each mutant runs in seconds. The
 * modules Stryker mutates (stryker.config.json) are those this tier covers; modules tested through the database
 * join with their integration tests as mutation runs get faster (see docs/testing.md).
 */
const base = require("./jest.config.js");
/** @type {import('jest').Config} */
module.exports = { ...base, roots: ["<rootDir>/test/unit"], maxWorkers: 1 };
