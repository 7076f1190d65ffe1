// Entry point of the tcu-agent program (bundled to dist/tcu-agent.mjs).
import { EXIT, processIO } from '../../core/cli.js';
import { tcuAgent } from './main.js';

const io = processIO();
tcuAgent(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    io.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = EXIT.FAILURE;
  },
);
