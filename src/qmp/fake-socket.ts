import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Listens on a unix socket for a fake peer (monitor or guest agent). Without `socketPath`, makes a
 * temp dir named after `prefix` and returns it as `ownedDir` for the caller to remove; a stale
 * socket file is replaced, as QEMU does.
 */
export async function listenFakeSocket(
  socketPath: string | undefined,
  prefix: string,
  fileName: string,
): Promise<{ server: net.Server; socketPath: string; ownedDir: string | undefined }> {
  let ownedDir: string | undefined;
  let listenPath = socketPath;
  if (!listenPath) {
    ownedDir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
    listenPath = path.join(ownedDir, fileName);
  }
  await fs.rm(listenPath, { force: true });
  const server = net.createServer();
  const target = listenPath;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(target, () => resolve());
  });
  return { server, socketPath: target, ownedDir };
}
