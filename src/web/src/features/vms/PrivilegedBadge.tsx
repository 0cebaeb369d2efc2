/** Why a privileged container is flagged wherever it shows. */
export const PRIVILEGED_HELP = 'Privileged container: it has no user namespace, so root inside is root on the host';

/** The red "privileged" flag of a container without a user namespace. */
export function PrivilegedBadge({ id }: { id?: string }) {
  return (
    <span className="badge bad privileged" id={id} title={PRIVILEGED_HELP}>
      privileged
    </span>
  );
}
