import type { Vm } from '../../api';

/** A list of names as tags, or a muted "none". */
function Names({ id, names }: { id: string; names: string[] }) {
  return (
    <dd id={id} data-count={names.length}>
      {names.length === 0 ? <span className="muted">none</span> : names.map((name) => <span key={name} className="tag">{name}</span>)}
    </dd>
  );
}

/** The rules the scheduler keeps for the VM wherever it goes: storage pool, CPU model, required host tags, affinity and anti-affinity groups. */
export function PlacementRules({ vm }: { vm: Vm }) {
  const { requiredTags, affinityGroups, antiAffinityGroups } = vm.placement;
  return (
    <section className="panel" aria-labelledby="placement-rules-title" id="vm-placement-rules">
      <h2 id="placement-rules-title">Placement rules</h2>
      <dl className="facts">
        <dt>Storage pool</dt>
        <dd id="vm-pool" data-pool={vm.pool}>
          {vm.pool === 'shared' ? 'shared (moves keep the disks where they are)' : 'local (moves copy the disks)'}
        </dd>
        <dt>CPU model</dt>
        <dd id="vm-cpu-model">{vm.cpuModel ?? <span className="muted">cluster default</span>}</dd>
        <dt title="The host must carry every one of these tags">Required host tags</dt>
        <Names id="vm-required-tags" names={requiredTags} />
        <dt title="Every VM of the group runs on the same host">Affinity groups</dt>
        <Names id="vm-affinity-groups" names={affinityGroups} />
        <dt title="Every VM of the group runs on a different host">Anti-affinity groups</dt>
        <Names id="vm-anti-affinity-groups" names={antiAffinityGroups} />
      </dl>
    </section>
  );
}
