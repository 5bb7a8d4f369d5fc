import { useState } from "preact/hooks";
import { enc, get, type Schemas } from "./api";
import { ErrorBox, Loading, Pager, useApi } from "./ui";

const LIMIT = 25;

/** A page of a dataset's curated rows (lineage columns included), paged on the server. */
export function CuratedSample({ dataset, ingestionId }: { dataset: string; ingestionId?: string }) {
  const [offset, setOffset] = useState(0);
  const sample = useApi(
    () =>
      get<Schemas["CuratedSample"]>(`/api/datasets/${enc(dataset)}/sample`, {
        limit: LIMIT,
        offset,
        ingestion_id: ingestionId,
      }),
    [dataset, ingestionId, offset],
  );
  const s = sample.data;
  return (
    <section data-testid="curated-sample">
      <ErrorBox error={sample.error} />
      <Loading loading={sample.loading} />
      {s && s.total === 0 && (
        <p class="muted">
          {ingestionId ? "This ingestion has no rows in " : "No rows loaded yet into "}
          <span class="mono">{s.table}</span>.
        </p>
      )}
      {s && s.total > 0 && (
        <>
          <p class="muted small">
            Rows of <span class="mono">{s.table}</span>
            {ingestionId ? " this ingestion loaded, in file order" : ", newest load first"}; columns starting with _ are
            lineage.
          </p>
          <table data-testid="sample-rows">
              <thead>
                <tr>
                  {s.columns.map((c) => (
                    <th class={c.lineage ? "muted" : ""} title={c.type}>
                      {c.name}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {s.items.map((row) => (
                  <tr>
                    {s.columns.map((c) => (
                      <td class="mono small">{show((row as Record<string, unknown>)[c.name])}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
          </table>
          <Pager offset={offset} limit={LIMIT} total={s.total} onOffset={setOffset} />
        </>
      )}
    </section>
  );
}

function show(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
