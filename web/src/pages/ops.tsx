export function Ops() {
  return <p class="muted">coming soon.</p>;
}
