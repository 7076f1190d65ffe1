import { EXIT, parseHostPort, waitForStop, type CommandIO } from '../../core/cli.js';
import { RepoServer } from '../fleet/serve.js';
import { HELP_OPTION, note, parseOptions, printJson, required, type CliDeps } from './common.js';

export const SERVE_HELP = `Usage: tcu-ota serve --repo DIR [--listen HOST:PORT] [--quiet]

Serves DIR over HTTP for development: GET and HEAD, single byte ranges (206, 416), no directory
listings, nothing outside DIR. DIR may be one repository or a folder holding several (image/ and
director/ then have the URLs http://HOST:PORT/image and http://HOST:PORT/director). Prints
{"url": "http://HOST:PORT/"} on standard output once listening, then one line per request on
standard error (unless --quiet), until interrupted (SIGINT or SIGTERM). Production repositories
go on any static web server or CDN: the layout is plain files.

Options:
  --repo DIR            the folder to serve
  --listen HOST:PORT    the address (default 127.0.0.1:8080; port 0: any free port)
  --quiet               no request lines
  -h, --help            this text

Exit codes: 0 stopped, 1 unexpected failure, 2 usage error (DIR not a folder, address in use).
`;

export async function serveCommand(argv: string[], io: CommandIO, deps: CliDeps): Promise<number> {
  const values = parseOptions(argv, { repo: { type: 'string' }, listen: { type: 'string', default: '127.0.0.1:8080' }, quiet: { type: 'boolean', default: false }, ...HELP_OPTION });
  if (values.help) {
    io.stdout.write(SERVE_HELP);
    return EXIT.OK;
  }
  const { host, port } = parseHostPort(values.listen, '--listen');
  const server = new RepoServer({
    root: required(values.repo, '--repo'),
    ...(values.quiet ? {} : { onRequest: (r) => note(io, `${r.method} ${r.path} ${r.status} ${r.bytes}`) }),
  });
  const { url } = await server.start(host, port);
  printJson(io, { url });
  try {
    await waitForStop(io.stop, Infinity, deps.clock);
  } finally {
    await server.stop();
  }
  return EXIT.OK;
}
