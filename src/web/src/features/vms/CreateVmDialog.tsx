import { useEffect, useMemo, useState } from 'react';
import { asApiError, type GuestType, type Image, type Network } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSubmit } from '../../components/useSubmit';
import { useFleet } from '../../live/fleet';
import { useSession } from '../auth/session';
import { NetworkPicker, networksRequest, type NetworkChoice } from '../networks/NetworkPicker';
import { PlacementErrorReasons } from '../placement/PlacementErrorReasons';
import { NO_PLACEMENT_CHOICE, PlacementFields, placementRequest, type PlacementChoice } from '../placement/PlacementFields';
import { guestFeatures } from './guestTypes';
import { PRIVILEGED_HELP } from './PrivilegedBadge';

/** The bounds of a container's process limit (src/controller/vms/schema.ts). */
const PIDS_LIMIT = { min: 8, max: 4_194_304 };

/**
 * Defines a VM or a system container from a library image of its type (POST /api/v1/vms): size, a
 * container's privilege and process limit, placement (pool, host or the scheduler's pick, required
 * tags, groups) and virtual networks; the operation then shows in the tray.
 */
export function CreateVmDialog({ onClose }: { onClose: () => void }) {
  const { api, operations, fleet } = useSession();
  const { hosts: hostMap } = useFleet(fleet);
  const hosts = useMemo(() => [...hostMap.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })), [hostMap]);
  const [images, setImages] = useState<Image[] | null>(null);
  const [networks, setNetworks] = useState<Network[] | null>(null);
  const [form, setForm] = useState({
    name: '',
    type: 'vm' as GuestType,
    image: '',
    cpus: 1,
    memoryMiB: 256,
    devices: 'virtio' as 'virtio' | 'emulated',
    privileged: false,
    pidsLimit: '',
    start: true,
  });
  const [placement, setPlacement] = useState<PlacementChoice>(NO_PLACEMENT_CHOICE);
  const [nics, setNics] = useState<NetworkChoice>(new Map());
  const { busy, error, setError, submit } = useSubmit();

  useEffect(() => {
    api.listNetworks().then(setNetworks, (err: unknown) => {
      setNetworks([]);
      setError(asApiError(err));
    });
  }, [api, setError]);

  useEffect(() => {
    api.listImages().then(
      (list) => {
        setImages(list);
        setForm((f) => ({ ...f, image: f.image || list.find((i) => i.type === f.type)?.name || '' }));
      },
      (err: unknown) => setError(asApiError(err)),
    );
  }, [api, setError]);

  const features = guestFeatures(form.type);
  const pidsLimit = form.pidsLimit.trim() === '' ? null : Number(form.pidsLimit);
  const pidsLimitValid = !features.processLimit || pidsLimit === null || (Number.isInteger(pidsLimit) && pidsLimit >= PIDS_LIMIT.min && pidsLimit <= PIDS_LIMIT.max);
  // Each type offers only its own images: a VM's disk does not boot as a container, nor the other way round.
  const imageNames = [...new Set((images ?? []).filter((i) => i.type === form.type).map((i) => i.name))];
  const chooseType = (type: GuestType) => {
    const first = (images ?? []).find((i) => i.type === type)?.name ?? '';
    setForm({ ...form, type, image: (images ?? []).some((i) => i.type === type && i.name === form.image) ? form.image : first });
  };

  const create = () =>
    submit(async () => {
      const networksWanted = networksRequest(nics);
      const accepted = await api.createVm({
        name: form.name.trim(),
        // Left out for a VM, so a controller from before containers takes the request too.
        ...(form.type !== 'vm' ? { type: form.type } : {}),
        image: form.image || undefined,
        cpus: form.cpus,
        memoryMiB: form.memoryMiB,
        ...(features.deviceModels ? { devices: form.devices } : {}),
        ...(features.userNamespace && form.privileged ? { privileged: true } : {}),
        ...(features.processLimit && pidsLimit !== null ? { pidsLimit } : {}),
        start: form.start,
        ...placementRequest(placement),
        ...(networksWanted.length ? { networks: networksWanted } : {}),
      });
      operations.track(accepted.operation);
      fleet.refreshVm(form.name.trim());
      onClose();
    });

  return (
    <Dialog
      id="vm-create-dialog"
      title={`Create a ${features.label}`}
      submitLabel="Create"
      busy={busy}
      submitDisabled={!form.name.trim() || !pidsLimitValid || (features.needsImage && !form.image)}
      onSubmit={() => void create()}
      onClose={onClose}
    >
      <label htmlFor="vm-create-name">Name</label>
      <input
        id="vm-create-name"
        value={form.name}
        onChange={(e) => setForm({ ...form, name: e.target.value })}
        pattern="[a-z][a-z0-9-]{0,62}"
        title="Lowercase letters, digits and -, starting with a letter"
        required
        autoFocus
        spellCheck={false}
      />
      <label htmlFor="vm-create-type">Type</label>
      <select id="vm-create-type" value={form.type} onChange={(e) => chooseType(e.target.value as GuestType)}>
        <option value="vm">VM: a QEMU virtual machine</option>
        <option value="container">Container: a system container (runc) sharing the host's kernel</option>
      </select>
      <label htmlFor="vm-create-image">Image</label>
      <select id="vm-create-image" value={form.image} onChange={(e) => setForm({ ...form, image: e.target.value })}>
        {images === null && <option value="">Loading images…</option>}
        {images !== null && imageNames.length === 0 && <option value="">No {features.label} image in the library</option>}
        {imageNames.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
      <div className="field-row">
        <div>
          <label htmlFor="vm-create-cpus">vCPUs</label>
          <input id="vm-create-cpus" type="number" min={1} max={64} value={form.cpus} onChange={(e) => setForm({ ...form, cpus: Number(e.target.value) })} />
        </div>
        <div>
          <label htmlFor="vm-create-memory">Memory (MiB)</label>
          <input id="vm-create-memory" type="number" min={64} step={64} value={form.memoryMiB} onChange={(e) => setForm({ ...form, memoryMiB: Number(e.target.value) })} />
        </div>
        {features.deviceModels && (
          <div>
            <label htmlFor="vm-create-devices">Devices</label>
            <select id="vm-create-devices" value={form.devices} onChange={(e) => setForm({ ...form, devices: e.target.value as 'virtio' | 'emulated' })}>
              <option value="virtio">virtio (paravirtualized)</option>
              <option value="emulated">emulated (IDE, e1000)</option>
            </select>
          </div>
        )}
        {features.processLimit && (
          <div>
            <label htmlFor="vm-create-pids">Process limit</label>
            <input
              id="vm-create-pids"
              inputMode="numeric"
              placeholder="none"
              value={form.pidsLimit}
              onChange={(e) => setForm({ ...form, pidsLimit: e.target.value })}
              aria-invalid={!pidsLimitValid}
              title="Most processes and threads at once; empty for none"
            />
          </div>
        )}
      </div>
      {!pidsLimitValid && (
        <p className="field-error" id="vm-create-pids-error">
          The process limit is a whole number from {PIDS_LIMIT.min} to {PIDS_LIMIT.max}, or empty for none.
        </p>
      )}
      {features.userNamespace && (
        <>
          <label className="checkbox">
            <input id="vm-create-privileged" type="checkbox" checked={form.privileged} onChange={(e) => setForm({ ...form, privileged: e.target.checked })} /> Privileged (no user namespace)
          </label>
          {form.privileged && (
            <p className="notice warning small" id="vm-create-privileged-warning">
              {PRIVILEGED_HELP}. A process that escapes it owns the host: use it only for a guest that cannot run otherwise, with software you trust.
            </p>
          )}
        </>
      )}
      <PlacementFields value={placement} hosts={hosts} onChange={setPlacement} />
      <NetworkPicker networks={networks} value={nics} onChange={setNics} userNic={features.userNetworking} />
      <label className="checkbox">
        <input id="vm-create-start" type="checkbox" checked={form.start} onChange={(e) => setForm({ ...form, start: e.target.checked })} /> Start it once created
      </label>
      {error && (
        <ErrorNotice error={error} id="vm-create-error">
          <PlacementErrorReasons error={error} id="vm-create-error-reasons" />
        </ErrorNotice>
      )}
    </Dialog>
  );
}
