import { useState } from "preact/hooks";
import { get, post, type Schemas } from "../api";
import { go, href, type Route } from "../router";
import { Badge, ErrorBox, Loading, num, Outcome, useAction, useApi, when } from "../ui";

const LIMIT = 50;

export function Quarantine({ route }: { route: Route }) {
  const dataset = route.query.get("dataset") ?? "";
  const status = route.query.get("status") ?? "held";
  const cursor = route.query.get("cursor") ?? "";
  const page = useApi(
    () => get<Schemas["QuarantinePage"]>("/api/quarantine", { dataset, status, cursor, limit: LIMIT }),
    [dataset, status, cursor],
  );
  const [chosen, setChosen] = useState<Set<number>>(new Set());
  const [reason, setReason] = useState("");
  const action = useAction();
  const ids = [...chosen];
  const filter = (changes: Record<string, string>) => {
    setChosen(new Set());
    go(["quarantine"], { dataset, status, ...changes, cursor: undefined });
  };
  const toggle = (id: number) => {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setChosen(next);
  };
  const replay = () =>
    action.run(async () => {
      const r = await post<Schemas["QuarantineReplayed"]>("/api/quarantine/replay", { ids });
      setChosen(new Set());
      page.reload();
      return `${r.rows} held row(s) sent to be revalidated in ${r.ingestions.length} replay ingestion(s): ${r.ingestions
        .map((i) => i.id)
        .join(", ")}`;
    });
  const discard = () =>
    action.run(async () => {
      if (!reason.trim()) throw new Error("say why the rows are discarded (the reason is recorded)");
      const r = await post<Schemas["QuarantineDiscarded"]>("/api/quarantine/discard", { ids, reason });
      setChosen(new Set());
      page.reload();
      return `${r.discarded} row(s) discarded`;
    });
  return (
    <>
      <p class="muted">
        Rows a contract held back instead of failing their file. Replay revalidates them against the current contract
        (after a fix); discard drops them for good with a reason. Both need an operator token.
      </p>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          status{" "}
          <select name="status" value={status} onChange={(e) => filter({ status: (e.target as HTMLSelectElement).value })}>
            {["held", "replayed", "discarded"].map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          dataset{" "}
          <input name="dataset" value={dataset} onChange={(e) => filter({ dataset: (e.target as HTMLInputElement).value.trim() })} />
        </label>
        <Loading loading={page.loading} />
      </form>
      <ErrorBox error={page.error} />
      {page.data && (
        <>
          <p data-testid="quarantine-total">{num(page.data.total)} row(s)</p>
          <table data-testid="quarantine">
            <thead>
              <tr>
                <th>
                  <span class="sr">select</span>
                </th>
                <th>dataset</th>
                <th>file (ingestion)</th>
                <th>row</th>
                <th>status</th>
                <th>failed</th>
                <th>values</th>
                <th>held at</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((r) => (
                <tr>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`select row ${r.source_row} of ${r.ingestion_id}`}
                      checked={chosen.has(r.id)}
                      onChange={() => toggle(r.id)}
                    />
                  </td>
                  <td>{r.dataset}</td>
                  <td>
                    <a href={href(["ingestions", r.ingestion_id])} class="mono small">
                      {r.ingestion_id.slice(0, 8)}
                    </a>
                  </td>
                  <td>{r.source_row}</td>
                  <td>
                    <Badge value={r.status} />
                  </td>
                  <td class="small">
                    {(r.failures as { expectation_type?: string; type?: string; column?: string }[])
                      .map((f) => f.expectation_type ?? f.type ?? JSON.stringify(f))
                      .join(", ")}
                  </td>
                  <td class="mono small values">{JSON.stringify(r.values)}</td>
                  <td>{when(r.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {page.data.next_cursor !== null && (
            <button onClick={() => go(["quarantine"], { dataset, status, cursor: page.data?.next_cursor ?? undefined })}>
              next page →
            </button>
          )}
          {cursor && <button onClick={() => go(["quarantine"], { dataset, status })}>← first page</button>}
          <div class="actions">
            <button disabled={action.busy || ids.length === 0} onClick={replay}>
              replay {ids.length} selected
            </button>
            <label>
              reason <input name="reason" value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
            </label>
            <button disabled={action.busy || ids.length === 0} onClick={discard}>
              discard {ids.length} selected
            </button>
          </div>
          <Outcome message={action.message} error={action.error} />
        </>
      )}
    </>
  );
}
