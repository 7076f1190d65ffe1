/**
 * A stand-in for systemd's notification socket: a Unix datagram socket (Node cannot bind one, so a
 * small python3 program does) that takes what `systemd-notify` sends, closes the barrier file
 * descriptors it passes the way systemd does, and reports each message as a JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const RECEIVER = `
import json, os, socket, sys, time, array
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
print(json.dumps({"listening": path}), flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
            for fd in fds:
                os.close(fd)
    fields = [f for f in data.decode("utf-8", "replace").split("\\n") if f]
    print(json.dumps({"t": time.monotonic() * 1000, "fields": fields}), flush=True)
`;

export interface Notification {
  /** Monotonic milliseconds of the receiver. */
  t: number;
  fields: string[];
}

export class NotifySocket {
  readonly messages: Notification[] = [];
  private constructor(
    readonly path: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(path: string): Promise<NotifySocket> {
    const child = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    const first = await lines[Symbol.asyncIterator]().next();
    if (first.done) throw new Error('the notification receiver (python3) did not start');
    const socket = new NotifySocket(path, child);
    lines.on('line', (line) => socket.messages.push(JSON.parse(line) as Notification));
    return socket;
  }

  /** The messages carrying `field` (e.g. "WATCHDOG=1"), barriers left out. */
  with(field: string): Notification[] {
    return this.messages.filter((m) => m.fields.includes(field));
  }

  async waitFor(field: string, timeoutMs: number): Promise<Notification> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = this.with(field)[0];
      if (found) return found;
      if (Date.now() > end) throw new Error(`no ${field} within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map((m) => m.fields))}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
