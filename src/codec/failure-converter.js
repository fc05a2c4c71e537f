// Failures (their messages and stack traces) are encoded as payloads, so the payload codec encrypts
// them too. Plain JavaScript: the SDK loads it by path, in the worker, the client and the workflow
// bundle alike, under tsx, the tests and the compiled build.
/* global require, exports */
/* eslint-disable @typescript-eslint/no-require-imports */
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
