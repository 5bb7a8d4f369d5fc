// A uPlot time series: x is bucket starts (ISO), one line per series.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2"];

export function TimeChart({
  starts,
  series,
  height = 220,
  label,
}: {
  starts: string[];
  series: { name: string; values: (number | null)[] }[];
  height?: number;
  label: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const xs = starts.map((s) => Date.parse(s) / 1000);
    const plot = new uPlot(
      {
        width: Math.max(280, el.clientWidth || 600),
        height,
        series: [{}, ...series.map((s, i) => ({ label: s.name, stroke: COLORS[i % COLORS.length], width: 2 }))],
        axes: [{}, {}],
      },
      [xs, ...series.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    const onResize = () => plot.setSize({ width: Math.max(280, el.clientWidth), height });
    window.addEventListener("resize", onResize);
    return () => {
      window.removeEventListener("resize", onResize);
      plot.destroy();
    };
  }, [starts, series, height]);
  return <div ref={box} class="chart" role="img" aria-label={label} data-testid="chart" />;
}
