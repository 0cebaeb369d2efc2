/** A labelled usage bar: `used` of `total`, amber from 75 %, red from 90 %. */
export function Meter({ label, used, total, text }: { label: string; used: number; total: number; text: string }) {
  const fraction = total > 0 ? Math.min(1, used / total) : 0;
  const level = fraction >= 0.9 ? 'high' : fraction >= 0.75 ? 'mid' : 'low';
  return (
    <div className="meter">
      <div className="meter-label">
        <span>{label}</span>
        <span className="meter-text">{text}</span>
      </div>
      <div
        className={`meter-bar ${level}`}
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={Math.max(total, 0)}
        aria-valuenow={Math.min(used, total)}
        aria-valuetext={text}
      >
        <div style={{ width: `${fraction * 100}%` }} />
      </div>
    </div>
  );
}
