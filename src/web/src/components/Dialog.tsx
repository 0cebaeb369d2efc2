import { useEffect, useRef, type FormEvent, type ReactNode } from 'react';

interface Props {
  id: string;
  title: string;
  children: ReactNode;
  submitLabel: string;
  /** Danger styles the submit button red (deletes). */
  danger?: boolean;
  busy?: boolean;
  submitDisabled?: boolean;
  onSubmit: () => void;
  onClose: () => void;
}

/** A modal form on the native <dialog>: focus stays inside, Escape closes it. */
export function Dialog({ id, title, children, submitLabel, danger, busy, submitDisabled, onSubmit, onClose }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit();
  };
  return (
    <dialog ref={ref} id={id} className="dialog" aria-labelledby={`${id}-title`} onCancel={(e) => (e.preventDefault(), onClose())}>
      <form onSubmit={submit}>
        <h2 id={`${id}-title`}>{title}</h2>
        <div className="dialog-body">{children}</div>
        <div className="dialog-actions">
          <button type="button" onClick={onClose} id={`${id}-cancel`}>
            Cancel
          </button>
          <button type="submit" id={`${id}-submit`} className={danger ? 'danger' : 'primary'} disabled={busy || submitDisabled}>
            {busy ? 'Working…' : submitLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
