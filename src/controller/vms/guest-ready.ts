/** The guest agent answering: recorded on the VM, and as a `vm.guest-ready` event the web console follows. */
import type { VmView } from '../../vms/schemas.js';
import { SYSTEM_ACTOR } from '../actor.js';
import type { EventLog } from '../events/event-log.js';
import type { Store } from '../store/store.js';

/**
 * Copies the host's word on the guest agent (and the guest's addresses) into VM `vmId`, recording
 * `vm.guest-ready` when it changes to answering; nothing when the VM is gone or nothing changed.
 */
export async function recordGuestReady(deps: { store: Store; events: EventLog }, vmId: string, view: Pick<VmView, 'guestReady' | 'addresses'>): Promise<void> {
  await deps.store.transaction(async (tx) => {
    const vm = await tx.vms.get(vmId);
    if (!vm || (vm.runtime.guestReady ?? false) === view.guestReady) return;
    await tx.vms.update(vm.id, { runtime: { ...vm.runtime, guestReady: view.guestReady, ...(view.addresses?.length ? { addresses: view.addresses } : {}) } });
    if (view.guestReady) {
      await deps.events.record(
        { actor: SYSTEM_ACTOR, objectType: 'vm', objectId: vm.id, objectName: vm.name, action: 'vm.guest-ready', hostId: vm.hostId, result: 'success', detail: { guestReady: true, addresses: view.addresses ?? [] } },
        tx,
      );
    }
  });
}
