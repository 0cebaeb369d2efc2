/** Test support: loopback addresses that fail the ways a controller can, for the tests of moving between controller URLs. */
import { spawn } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

/** A loopback port nothing listens on (bound, then closed again): connections are refused. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A loopback URL whose connections never complete, like a host that is down on a network that drops
 * packets: a child process listens and is stopped (SIGSTOP), and its accept queue is filled, after
 * which the kernel drops every new SYN. The child (killed by its pid) and the fillers go with `t`.
 */
export async function silentUrl(t: TestContext): Promise<string> {
  const script = "const s = require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => process.stdout.write(s.address().port + '\\n'))";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: net.Socket[] = [];
  t.after(() => {
    for (const socket of fillers) socket.destroy();
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once('error', reject);
  });
  if (child.pid === undefined || !process.kill(child.pid, 'SIGSTOP')) throw new Error('could not stop the silent listener');
  for (let i = 0; i < 16; i++) {
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      fillers.push(socket);
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
      setTimeout(() => resolve(false), 300);
    });
    if (!connected) return `http://127.0.0.1:${port}`;
  }
  throw new Error('the stopped listener kept accepting connections');
}
