import { useEffect, useMemo, useState } from 'react';
import { asApiError, type Image, type Network } from '../../api';
import { Dialog } from '../../components/Dialog';
import { ErrorNotice } from '../../components/ErrorNotice';
import { useSubmit } from '../../components/useSubmit';
import { useFleet } from '../../live/fleet';
import { useSession } from '../auth/session';
import { NetworkPicker, networksRequest, type NetworkChoice } from '../networks/NetworkPicker';
import { PlacementErrorReasons } from '../placement/PlacementErrorReasons';
import { NO_PLACEMENT_CHOICE, PlacementFields, placementRequest, type PlacementChoice } from '../placement/PlacementFields';

/**
 * Defines a VM from a library image (POST /api/v1/vms): size, placement (pool, host or the
 * scheduler's pick, required tags, groups) and virtual networks; the operation then shows in the tray.
 */
export function CreateVmDialog({ onClose }: { onClose: () => void }) {
  const { api, operations, fleet } = useSession();
  const { hosts: hostMap } = useFleet(fleet);
  const hosts = useMemo(() => [...hostMap.values()].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })), [hostMap]);
  const [images, setImages] = useState<Image[] | null>(null);
  const [networks, setNetworks] = useState<Network[] | null>(null);
  const [form, setForm] = useState({ name: '', image: '', cpus: 1, memoryMiB: 256, devices: 'virtio' as 'virtio' | 'emulated', start: true });
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
        // Container images make containers, not VMs.
        const vmImages = list.filter((i) => i.type === 'vm');
        setImages(vmImages);
        setForm((f) => ({ ...f, image: f.image || vmImages[0]?.name || '' }));
      },
      (err: unknown) => setError(asApiError(err)),
    );
  }, [api, setError]);

  const create = () =>
    submit(async () => {
      const networksWanted = networksRequest(nics);
      const accepted = await api.createVm({
        name: form.name.trim(),
        image: form.image || undefined,
        cpus: form.cpus,
        memoryMiB: form.memoryMiB,
        devices: form.devices,
        start: form.start,
        ...placementRequest(placement),
        ...(networksWanted.length ? { networks: networksWanted } : {}),
      });
      operations.track(accepted.operation);
      fleet.refreshVm(form.name.trim());
      onClose();
    });

  const imageNames = [...new Set((images ?? []).map((i) => i.name))];
  return (
    <Dialog id="vm-create-dialog" title="Create a VM" submitLabel="Create" busy={busy} submitDisabled={!form.name.trim()} onSubmit={() => void create()} onClose={onClose}>
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
      <label htmlFor="vm-create-image">Image</label>
      <select id="vm-create-image" value={form.image} onChange={(e) => setForm({ ...form, image: e.target.value })}>
        {images === null && <option value="">Loading images…</option>}
        {images !== null && imageNames.length === 0 && <option value="">No image in the library</option>}
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
        <div>
          <label htmlFor="vm-create-devices">Devices</label>
          <select id="vm-create-devices" value={form.devices} onChange={(e) => setForm({ ...form, devices: e.target.value as 'virtio' | 'emulated' })}>
            <option value="virtio">virtio (paravirtualized)</option>
            <option value="emulated">emulated (IDE, e1000)</option>
          </select>
        </div>
      </div>
      <PlacementFields value={placement} hosts={hosts} onChange={setPlacement} />
      <NetworkPicker networks={networks} value={nics} onChange={setNics} />
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
