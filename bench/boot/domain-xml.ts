/** The libvirt domain equivalent to the VM Drover runs for the boot benchmark. */
import { QBOOT } from '../../src/drivers/qemu/cmdline.js';

/** libvirt takes the firmware by path: the qboot Drover picks for direct kernel boot, from Debian's qemu-system-data. */
export const QBOOT_PATH = `/usr/share/qemu/${QBOOT}`;

/** What the domain is made of; all paths absolute. */
export interface DomainParams {
  name: string;
  accelerator: 'kvm' | 'tcg';
  memoryMiB: number;
  cpus: number;
  /** The firmware file QEMU runs as -bios. */
  firmware: string;
  kernel: string;
  initrd: string;
  cmdline: string;
  disk: string;
  mac: string;
  serialLog: string;
  guestAgentSocket: string;
  vncSocket: string;
}

/** Escapes text for an XML attribute or element body. */
function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * A transient domain matching Drover's QEMU command line: pc machine, qemu64 CPU, the same firmware, direct kernel boot, a virtio
 * qcow2 disk, a virtio user-mode NIC, serial console to a file, the guest-agent port, VGA with VNC on a unix
 * socket, ACPI on, and none of libvirt's extra default devices (USB controller, memory balloon).
 */
export function domainXml(p: DomainParams): string {
  return `<domain type='${p.accelerator === 'kvm' ? 'kvm' : 'qemu'}'>
  <name>${xml(p.name)}</name>
  <memory unit='MiB'>${p.memoryMiB}</memory>
  <vcpu>${p.cpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom' readonly='yes'>${xml(p.firmware)}</loader>
    <kernel>${xml(p.kernel)}</kernel>
    <initrd>${xml(p.initrd)}</initrd>
    <cmdline>${xml(p.cmdline)}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='${xml(p.disk)}'/>
      <target dev='vda' bus='virtio'/>
      <boot order='1'/>
    </disk>
    <controller type='usb' model='none'/>
    <interface type='user'>
      <mac address='${xml(p.mac)}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='${xml(p.serialLog)}'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind' path='${xml(p.guestAgentSocket)}'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <graphics type='vnc' socket='${xml(p.vncSocket)}'/>
    <video><model type='vga'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}
