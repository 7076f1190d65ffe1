// Entry point of the tcu-emulator program (bundled to dist/tcu-emulator.mjs).
import { EXIT, processIO } from '../../core/cli.js';
import { tcuEmulator } from './main.js';

const io = processIO();
tcuEmulator(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    io.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = EXIT.FAILURE;
  },
);
