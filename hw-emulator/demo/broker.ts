import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { TcuError, asTcuError } from '../../core/errors.js';

/**
 * The demo's embedded MQTT broker (aedes, MQTT 3.1.1), which can be taken down and brought back on
 * the same port to stage an outage. For tests, the project uses a real Mosquitto instead.
 */
export class DemoBroker {
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;

  constructor(private readonly host = '127.0.0.1') {}

  get port(): number {
    return this.boundPort;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Listens on `port` (0: any free port, then the same one on every restart). */
  async start(port = this.boundPort): Promise<number> {
    if (this.server) return this.boundPort;
    const broker = await Aedes.createBroker();
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(asTcuError(err, 'EMULATOR_LISTEN', `the demo broker cannot listen on ${this.host}:${port}`)));
      server.listen(port, this.host, () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new TcuError('EMULATOR_LISTEN', 'the demo broker has no address');
    this.boundPort = address.port;
    this.broker = broker;
    this.server = server;
    return this.boundPort;
  }

  /** Drops every connection and stops listening, as a broker that went away. */
  async stop(): Promise<void> {
    const { server, broker } = this;
    this.server = undefined;
    this.broker = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
}
