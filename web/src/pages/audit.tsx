import type { Route } from "../router";

export function Audit({ route }: { route: Route }) {
  return <p class="muted">{route.parts.join("/")} coming soon.</p>;
}
