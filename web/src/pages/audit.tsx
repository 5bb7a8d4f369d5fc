import { get, type Schemas } from "../api";
import { go, href, type Route } from "../router";
import { ErrorBox, Loading, Pager, useApi, when } from "../ui";

const LIMIT = 100;

export function Audit({ route }: { route: Route }) {
  const q = {
    dataset: route.query.get("dataset") ?? "",
    action: route.query.get("action") ?? "",
    entity_id: route.query.get("entity_id") ?? "",
  };
  const offset = Number(route.query.get("offset") ?? 0) || 0;
  const events = useApi(
    () => get<Schemas["AuditPage"]>("/api/audit_events", { ...q, offset, limit: LIMIT }),
    [q.dataset, q.action, q.entity_id, offset],
  );
  const filter = (key: string, value: string) => go(["audit"], { ...q, [key]: value.trim(), offset: undefined });
  return (
    <>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        {(["dataset", "action", "entity_id"] as const).map((key) => (
          <label>
            {key.replace("_", " ")}{" "}
            <input name={key} value={q[key]} onChange={(e) => filter(key, (e.target as HTMLInputElement).value)} />
          </label>
        ))}
        <Loading loading={events.loading} />
      </form>
      <ErrorBox error={events.error} />
      {events.data && (
        <>
          <table data-testid="audit">
            <thead>
              <tr>
                <th>at</th>
                <th>actor</th>
                <th>action</th>
                <th>dataset</th>
                <th>entity</th>
                <th>details</th>
              </tr>
            </thead>
            <tbody>
              {events.data.items.map((e) => (
                <tr>
                  <td>{when(e.at)}</td>
                  <td>{e.actor}</td>
                  <td>{e.action}</td>
                  <td>{e.dataset ?? "—"}</td>
                  <td class="mono small">
                    {e.entity_type === "ingestion" ? (
                      <a href={href(["ingestions", e.entity_id])}>{e.entity_id.slice(0, 8)}</a>
                    ) : (
                      `${e.entity_type} ${e.entity_id}`
                    )}
                  </td>
                  <td class="mono small">{JSON.stringify(e.details).slice(0, 240)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager offset={offset} limit={LIMIT} total={events.data.total} onOffset={(o) => go(["audit"], { ...q, offset: o || undefined })} />
        </>
      )}
    </>
  );
}
