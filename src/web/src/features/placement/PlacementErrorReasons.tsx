import type { ApiError } from '../../api';

/** Codes whose detail is "<what>: <who>: <reason>; <who>: <reason>; ...", as src/scheduler and src/controller/vms/place.ts write it. */
const PLACEMENT_CODES = new Set(['PLACEMENT_IMPOSSIBLE', 'HOST_UNSUITABLE']);

/** Splits a placement refusal's detail into what was placed and one reason per host (or per filter for a named host); null for other errors. */
export function placementReasons(error: ApiError): { subject: string; items: Array<{ who: string; reason: string }> } | null {
  if (!PLACEMENT_CODES.has(error.code) || !error.detail) return null;
  const colon = error.detail.indexOf(': ');
  if (colon < 0) return null;
  const items = error.detail
    .slice(colon + 2)
    .split('; ')
    .map((item) => {
      const at = item.indexOf(': ');
      return at < 0 ? { who: '', reason: item } : { who: item.slice(0, at), reason: item.slice(at + 2) };
    });
  return { subject: error.detail.slice(0, colon), items };
}

/** A placement refusal's reasons as a list, shown open inside the error notice (the raw detail stays behind "Details"). */
export function PlacementErrorReasons({ error, id }: { error: ApiError; id: string }) {
  const parsed = placementReasons(error);
  if (!parsed) return null;
  return (
    <div className="placement-error" id={id}>
      <p className="small">{parsed.subject}:</p>
      <ul>
        {parsed.items.map((item, index) => (
          <li key={index} data-who={item.who || undefined}>
            {item.who && <strong>{item.who}</strong>}
            {item.who && ': '}
            {item.reason}
          </li>
        ))}
      </ul>
    </div>
  );
}
