import { get, type Schemas } from "../api";
import { href } from "../router";
import { Badge, ErrorBox, Loading, num, useApi, when } from "../ui";

function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

/** The catalog of published marts: what each answers, who owns it, and how fresh its data is. */
export function Products() {
  const marts = useApi(() => get<Schemas["MartList"]>("/api/marts"), []);
  return (
    <>
      <p class="muted">
        Data products are SQL views a contract declares (its <code>marts</code>), over the curated tables. Freshness is the
        age of the last load of a dataset it reads, against the contract's <code>warn_after</code> and{" "}
        <code>error_after</code>.
      </p>
      <ErrorBox error={marts.error} />
      <Loading loading={marts.loading} />
      {marts.data && marts.data.items.length === 0 && <p class="muted">No contract declares a mart yet.</p>}
      {marts.data && marts.data.items.length > 0 && (
        <table data-testid="products">
          <thead>
            <tr>
              <th>product</th>
              <th>view</th>
              <th>freshness</th>
              <th>last load</th>
              <th>rows</th>
              <th>reads</th>
              <th>owner</th>
              <th>description</th>
            </tr>
          </thead>
          <tbody>
            {marts.data.items.map((m) => (
              <tr>
                <td>
                  {m.name} <Badge value={m.status} />
                </td>
                <td class="mono">{m.view}</td>
                <td>
                  <Badge value={m.freshness.status} /> {age(m.freshness.age_seconds)}
                </td>
                <td>{when(m.freshness.last_load_at)}</td>
                <td>{num(m.rows)}</td>
                <td>
                  {m.upstream_datasets.map((d) => (
                    <a href={href(["datasets", d])}>{d} </a>
                  ))}
                </td>
                <td>{m.owner}</td>
                <td class="small">
                  {m.error ?? m.description}
                  <details>
                    <summary>SQL and columns</summary>
                    <pre class="json">{m.sql}</pre>
                    <p class="mono small">{m.columns.map((c) => `${c.name} ${c.type}`).join(", ")}</p>
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
