// A map whose base layer works offline: Natural Earth 1:110m land (the world-atlas package) drawn as SVG,
// loaded on first use as its own chunk. Equirectangular, fitted to the points with a margin.
import { useEffect, useState } from "preact/hooks";
import { feature } from "topojson-client";
import type { Topology } from "topojson-specification";
import type { Feature, MultiPolygon, Polygon } from "geojson";

export interface MapPoint {
  id: string;
  lat: number;
  lon: number;
  label: string;
  href: string;
  good: boolean;
}

const WIDTH = 640;
const HEIGHT = 360;

let land: Promise<[number, number][][]> | null = null;

function loadLand(): Promise<[number, number][][]> {
  land ??= import("world-atlas/land-110m.json").then((module) => {
    const topology = (module.default ?? module) as unknown as Topology;
    const shape = feature(topology, topology.objects.land) as unknown as Feature<Polygon | MultiPolygon> | { features: Feature<Polygon | MultiPolygon>[] };
    const features = "features" in shape ? shape.features : [shape];
    const rings: [number, number][][] = [];
    for (const f of features) {
      const polygons = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      for (const polygon of polygons) for (const ring of polygon) rings.push(ring as [number, number][]);
    }
    return rings;
  });
  return land;
}

function fit(points: MapPoint[]) {
  const lats = points.map((p) => p.lat);
  const lons = points.map((p) => p.lon);
  const span = Math.max(30, Math.max(...lats) - Math.min(...lats), (Math.max(...lons) - Math.min(...lons)) / 1.8);
  const cLat = (Math.max(...lats) + Math.min(...lats)) / 2;
  const cLon = (Math.max(...lons) + Math.min(...lons)) / 2;
  const scale = HEIGHT / (span * 1.6);
  return (lon: number, lat: number): [number, number] => [WIDTH / 2 + (lon - cLon) * scale, HEIGHT / 2 - (lat - cLat) * scale];
}

export function DeviceMap({ points }: { points: MapPoint[] }) {
  const [rings, setRings] = useState<[number, number][][]>([]);
  useEffect(() => {
    loadLand().then(setRings);
  }, []);
  if (points.length === 0) return <p class="muted">No device has reported a position yet (lat/lon in its telemetry).</p>;
  const project = fit(points);
  const path = rings
    .map((ring) => "M" + ring.map(([lon, lat]) => project(lon, lat).map((v) => v.toFixed(1)).join(",")).join("L") + "Z")
    .join("");
  return (
    <svg class="map" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="device positions" data-testid="device-map">
      <rect width={WIDTH} height={HEIGHT} fill="#dbeafe" />
      <path d={path} fill="#e5e7eb" stroke="#9ca3af" stroke-width="0.5" />
      {points.map((p) => {
        const [x, y] = project(p.lon, p.lat);
        return (
          <a href={p.href}>
            <circle cx={x} cy={y} r={6} fill={p.good ? "#16a34a" : "#dc2626"} stroke="#fff" stroke-width="2" data-device={p.id}>
              <title>{p.label}</title>
            </circle>
          </a>
        );
      })}
    </svg>
  );
}
