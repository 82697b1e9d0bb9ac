// The one confirmation dialog: every change the console makes needs a reason (1..500 characters),
// typed here. A native <dialog> shown modally: focus moves to its first field, Escape cancels.
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { messageOf } from "./api";

export interface ReasonRequest {
  title: string;
  /** What will happen, shown above the reason. */
  body: ComponentChildren;
  confirm: string;
  danger?: boolean;
  /** Does the change; a rejection is shown in the dialog, which stays open. */
  run(reason: string): Promise<unknown>;
}

export function ReasonDialog({ request, onClose }: { request: ReasonRequest; onClose(): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const field = useRef<HTMLTextAreaElement>(null);
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    field.current?.focus();
    return () => {
      if (dialog.open) dialog.close();
    };
  }, []);

  async function submit(e: Event) {
    e.preventDefault();
    const trimmed = reason.trim();
    if (trimmed === "") {
      setError("A reason is required.");
      field.current?.focus();
      return;
    }
    setBusy(true);
    setError("");
    try {
      await request.run(trimmed);
      onClose();
    } catch (err) {
      setError(messageOf(err));
      setBusy(false);
    }
  }

  return (
    <dialog
      ref={ref}
      class="reason-dialog"
      aria-labelledby="reason-dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <form onSubmit={submit} noValidate>
        <h2 id="reason-dialog-title">{request.title}</h2>
        <div class="dialog-body">{request.body}</div>
        <label for="reason-dialog-reason">Reason (required, recorded in the audit log)</label>
        <textarea
          id="reason-dialog-reason"
          ref={field}
          required
          maxLength={500}
          rows={3}
          value={reason}
          aria-invalid={error !== "" ? "true" : undefined}
          aria-describedby={error !== "" ? "reason-dialog-error" : undefined}
          onInput={(e) => setReason(e.currentTarget.value)}
        />
        {error !== "" && (
          <p id="reason-dialog-error" class="error" role="alert">
            {error}
          </p>
        )}
        <div class="dialog-actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class={request.danger ? "danger" : "primary"} disabled={busy}>
            {request.confirm}
          </button>
        </div>
      </form>
    </dialog>
  );
}
