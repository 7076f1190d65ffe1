// Entry point of the tcu-ota program (bundled to dist/tcu-ota.mjs): the fleet operator's tool.
import { EXIT, processIO } from '../../core/cli.js';
import { tcuOta } from './main.js';

const io = processIO();
tcuOta(process.argv.slice(2), io).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    io.stderr.write(`error: ${String(err)}\n`);
    process.exitCode = EXIT.FAILURE;
  },
);
