/**
 * Boots the tiny image with plain QEMU (TCG) for a self-check: waits for the ready line and
 * talks to the guest agent and QEMU's monitor over minimal JSON-lines clients.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../shared/exec.js';
import { DroverError } from '../../shared/errors.js';
import type { TinyImage } from './build.js';

/** virtio: virtio-blk + virtio-net. emulated: IDE disk + e1000, as an OS without virtio drivers would need. */
export type TinyDeviceModel = 'virtio' | 'emulated';

export const READY_LINE = 'drover-guest: ready';

const DEVICES: Record<TinyDeviceModel, string[]> = {
  virtio: ['-device', 'virtio-blk-pci,drive=d0', '-device', 'virtio-net-pci,netdev=n0'],
  emulated: ['-device', 'ide-hd,drive=d0,bus=ide.0', '-device', 'e1000,netdev=n0'],
};

/** A running QEMU with the tiny image on a throw-away overlay disk. */
export class TinyGuest {
  readonly exited: Promise<number | null>;
  private stderr = '';

  constructor(
    private readonly child: ChildProcess,
    readonly workDir: string,
    readonly startedAt: number,
  ) {
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get serialLog(): string {
    return path.join(this.workDir, 'serial.log');
  }

  /** Resolves with the milliseconds from QEMU's start until `text` appears on the serial console. */
  async waitForSerial(text: string, timeoutMs: number): Promise<number> {
    let running = true;
    void this.exited.then(() => (running = false));
    while (Date.now() - this.startedAt < timeoutMs) {
      const log = await readFile(this.serialLog, 'utf8').catch(() => '');
      if (log.includes(text)) return Date.now() - this.startedAt;
      if (!running) throw new DroverError('VM_START_FAILED', `QEMU exited before "${text}": ${this.stderr.trim() || log.slice(-500)}`);
      await sleep(100);
    }
    throw new DroverError('TIMEOUT', `no "${text}" on the serial console within ${timeoutMs} ms`);
  }

  /** Sends one guest agent command (after a guest-sync-delimited handshake) and returns its "return" value. */
  async agent(command: string, args?: object, timeoutMs = 10_000): Promise<unknown> {
    const socket = await JsonLines.connect(path.join(this.workDir, 'qga.sock'), 'GUEST_AGENT_UNAVAILABLE');
    try {
      const id = Math.floor(Math.random() * 1e9);
      socket.send({ execute: 'guest-sync-delimited', arguments: { id } });
      await socket.skipPast(0xff, timeoutMs);
      await socket.next((msg) => msg.return === id, timeoutMs);
      socket.send({ execute: command, ...(args ? { arguments: args } : {}) });
      return answer(await socket.next((msg) => 'return' in msg || 'error' in msg, timeoutMs), command, 'GUEST_AGENT_UNAVAILABLE');
    } finally {
      socket.close();
    }
  }

  /** Sends one QMP command and returns its "return" value. */
  async qmp(command: string, args?: object, timeoutMs = 10_000): Promise<unknown> {
    const socket = await JsonLines.connect(path.join(this.workDir, 'qmp.sock'), 'QMP_DISCONNECTED');
    try {
      await socket.next((msg) => 'QMP' in msg, timeoutMs);
      socket.send({ execute: 'qmp_capabilities' });
      await socket.next((msg) => 'return' in msg || 'error' in msg, timeoutMs);
      socket.send({ execute: command, ...(args ? { arguments: args } : {}) });
      return answer(await socket.next((msg) => 'return' in msg || 'error' in msg, timeoutMs), command, 'QMP_ERROR');
    } finally {
      socket.close();
    }
  }

  /** Kills this QEMU (only this pid) if it still runs, and deletes the work directory. */
  async dispose(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    await rm(this.workDir, { recursive: true, force: true });
  }
}

/** Starts QEMU (TCG) on `image` with the given device model; the caller must dispose() the guest. */
export async function bootTinyGuest(image: TinyImage, model: TinyDeviceModel, opts: { memoryMiB?: number; cmdline?: string } = {}): Promise<TinyGuest> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'drover-tiny-'));
  try {
    const disk = path.join(workDir, 'disk.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image.disk, '-F', 'qcow2', disk], { errorCode: 'STORAGE_ERROR' });
    const args = [
      // qboot and a std VGA display, as Drover starts a VM booting the image's kernel.
      ...['-accel', 'tcg', '-M', 'pc', '-bios', 'qboot.rom', '-m', String(opts.memoryMiB ?? 256), '-nodefaults', '-no-user-config'],
      ...['-vga', 'std', '-display', 'none', '-no-reboot'],
      ...['-kernel', image.kernel, '-initrd', image.initrd, '-append', [image.cmdline, opts.cmdline].filter(Boolean).join(' ')],
      ...['-drive', `file=${disk},if=none,id=d0,format=qcow2`, '-netdev', 'user,id=n0', ...DEVICES[model]],
      ...['-device', 'virtio-serial-pci', '-chardev', `socket,id=qga0,path=${path.join(workDir, 'qga.sock')},server=on,wait=off`],
      ...['-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0'],
      ...['-serial', `file:${path.join(workDir, 'serial.log')}`, '-qmp', `unix:${path.join(workDir, 'qmp.sock')},server=on,wait=off`],
    ];
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new DroverError('DEPENDENCY_MISSING', `qemu-system-x86_64: ${err.message}`)));
    });
    return new TinyGuest(child, workDir, Date.now());
  } catch (err) {
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

type Message = Record<string, unknown>;
type PeerErrorCode = 'QMP_DISCONNECTED' | 'GUEST_AGENT_UNAVAILABLE';

function answer(msg: Message, command: string, code: 'QMP_ERROR' | 'GUEST_AGENT_UNAVAILABLE'): unknown {
  if ('error' in msg) throw new DroverError(code, `${command}: ${JSON.stringify(msg.error)}`);
  return msg.return;
}

/** A JSON-lines conversation over a Unix socket, as both QMP and qemu-ga speak it. */
class JsonLines {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly socketPath: string,
    private readonly errorCode: PeerErrorCode,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static connect(socketPath: string, errorCode: PeerErrorCode): Promise<JsonLines> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => resolve(new JsonLines(socket, socketPath, errorCode)));
      socket.once('error', (err) => reject(new DroverError(errorCode, `${socketPath}: ${err.message}`)));
    });
  }

  send(message: object): void {
    this.socket.write(`${JSON.stringify(message)}\n`);
  }

  /** Drops everything up to and including the first `byte` (qemu-ga's 0xFF sync marker). */
  async skipPast(byte: number, timeoutMs: number): Promise<void> {
    await this.waitFor(() => {
      const at = this.buffer.indexOf(byte);
      if (at < 0) return undefined;
      this.buffer = this.buffer.subarray(at + 1);
      return true;
    }, timeoutMs);
  }

  /** Returns the next message matching `wanted`, discarding others (QMP events, stale replies). */
  next(wanted: (msg: Message) => boolean, timeoutMs: number): Promise<Message> {
    return this.waitFor(() => {
      for (let end = this.buffer.indexOf(0x0a); end >= 0; end = this.buffer.indexOf(0x0a)) {
        const line = this.buffer.subarray(0, end).toString('utf8').trim();
        this.buffer = this.buffer.subarray(end + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as Message;
        if (wanted(msg)) return msg;
      }
      return undefined;
    }, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Re-runs `take` on each arrival of data until it returns a value. */
  private async waitFor<T>(take: () => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (let value = take(); ; value = take()) {
      if (value !== undefined) return value;
      if (this.closed) throw new DroverError(this.errorCode, `${this.socketPath} closed before the reply`);
      const left = deadline - Date.now();
      if (left <= 0) throw new DroverError('TIMEOUT', `no reply on ${this.socketPath} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
