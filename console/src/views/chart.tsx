// The last hour per minute, drawn by hand: one polyline per series on a shared scale.
import type { Minute } from "../api";
import { clock } from "../util";

const W = 600;
const H = 180;
const PAD = { left: 40, right: 10, top: 10, bottom: 24 };
const SERIES = [
  { key: "calls", label: "calls" },
  { key: "denied", label: "denied" },
  { key: "errors", label: "errors" },
] as const;

export function MinuteChart({ minutes }: { minutes: Minute[] }) {
  const max = Math.max(1, ...minutes.flatMap((m) => [m.calls, m.denied, m.errors]));
  const top = niceCeiling(max);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = minutes.length > 1 ? plotW / (minutes.length - 1) : 0;
  const x = (i: number) => PAD.left + i * step;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const total = (key: (typeof SERIES)[number]["key"]) => minutes.reduce((n, m) => n + m[key], 0);
  const summary = SERIES.map((s) => `${total(s.key)} ${s.label}`).join(", ");
  const first = minutes[0];
  const last = minutes[minutes.length - 1];

  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-labelledby="chart-title chart-desc"
        preserveAspectRatio="xMidYMid meet"
      >
        <title id="chart-title">Calls per minute, last hour</title>
        <desc id="chart-desc">{`In the last hour: ${summary}. Highest minute: ${max}.`}</desc>
        {[0, 0.5, 1].map((f) => (
          <g key={f} class="chart-grid">
            <line x1={PAD.left} x2={W - PAD.right} y1={y(top * f)} y2={y(top * f)} />
            <text x={PAD.left - 6} y={y(top * f) + 4} text-anchor="end">
              {formatTick(top * f)}
            </text>
          </g>
        ))}
        {first && (
          <text class="chart-axis" x={PAD.left} y={H - 6}>
            {clock(first.t)}
          </text>
        )}
        {last && (
          <text class="chart-axis" x={W - PAD.right} y={H - 6} text-anchor="end">
            {clock(last.t)} UTC
          </text>
        )}
        {SERIES.map((s) => (
          <polyline
            key={s.key}
            class={`chart-line chart-${s.key}`}
            points={minutes.map((m, i) => `${x(i).toFixed(1)},${y(m[s.key]).toFixed(1)}`).join(" ")}
          />
        ))}
      </svg>
      <figcaption class="chart-legend">
        {SERIES.map((s) => (
          <span key={s.key} class={`legend legend-${s.key}`}>
            {s.label}: {total(s.key)}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

function niceCeiling(v: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * magnitude >= v) return m * magnitude;
  return 10 * magnitude;
}

function formatTick(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
