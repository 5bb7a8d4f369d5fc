import { useState } from "preact/hooks";
import { get, type Schemas } from "../api";
import { go, href, type Route } from "../router";
import { ErrorBox, Loading, useApi, when } from "../ui";

type MediaItem = Schemas["MediaPage"]["items"][number];

/** The fleet's photos and videos, newest first, one device's with ?device=; a preview of the one chosen. */
export function Media({ route }: { route: Route }) {
  const device = route.query.get("device") ?? "";
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const media = useApi(
    () => get<Schemas["MediaPage"]>("/api/media", { limit: 48, device_id: device || undefined, cursor }),
    [device, cursor],
  );
  const [chosen, setChosen] = useState<MediaItem | null>(null);
  const filter = (e: Event) => {
    e.preventDefault();
    const value = (new FormData(e.target as HTMLFormElement).get("device") as string).trim();
    setCursors([]);
    setChosen(null);
    go(["media"], value ? { device: value } : {});
  };
  const items = media.data?.items ?? [];
  return (
    <>
      <form class="filters" onSubmit={filter}>
        <label>
          device <input name="device" value={device} placeholder="all devices" />
        </label>{" "}
        <button type="submit">filter</button>
      </form>
      <ErrorBox error={media.error} />
      <Loading loading={media.loading} />
      {chosen && <Preview item={chosen} onClose={() => setChosen(null)} />}
      {media.data && items.length === 0 && (
        <p class="muted">{device ? `Device ${device} has sent no photo or video.` : "No device has sent a photo or video yet."}</p>
      )}
      <MediaGrid items={items} onChoose={setChosen} />
      <nav class="pager" aria-label="pages">
        <button disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← newer
        </button>
        <button disabled={!media.data?.next_cursor} onClick={() => setCursors([...cursors, media.data?.next_cursor ?? ""])}>
          older →
        </button>
      </nav>
    </>
  );
}

/** Thumbnails of media records; choosing one (click or Enter) calls onChoose. */
export function MediaGrid({ items, onChoose }: { items: MediaItem[]; onChoose?: (m: MediaItem) => void }) {
  return (
    <div class="thumbs" data-testid="media">
      {items.map((m) => {
        const name = m.object_name.split("/").pop();
        return (
          <figure>
            {m.read_url && m.content_type.startsWith("image/") && (
              <a
                href={m.read_url}
                target="_blank"
                rel="noopener noreferrer"
                onClick={(e) => {
                  if (!onChoose) return;
                  e.preventDefault();
                  onChoose(m);
                }}
              >
                <img src={m.read_url} alt={`${name} from ${m.device_id}`} loading="lazy" />
              </a>
            )}
            {m.read_url && m.content_type.startsWith("video/") && <video src={m.read_url} controls preload="metadata" />}
            <figcaption class="small">
              {onChoose && (
                <>
                  <a href={href(["devices", m.device_id], { tab: "media" })}>{m.device_id}</a> ·{" "}
                </>
              )}
              {name} · {Math.round(m.size_bytes / 1024)} kB · {when(m.captured_at ?? m.created_at)}
            </figcaption>
          </figure>
        );
      })}
    </div>
  );
}

function Preview({ item, onClose }: { item: MediaItem; onClose: () => void }) {
  const name = item.object_name.split("/").pop();
  return (
    <section class="card" data-testid="media-preview" aria-label={`preview of ${name}`}>
      <h2>
        {name} <span class="muted small">from {item.device_id}</span>
      </h2>
      {item.read_url && item.content_type.startsWith("image/") && <img class="preview" src={item.read_url} alt={`${name} from ${item.device_id}`} />}
      {item.read_url && item.content_type.startsWith("video/") && <video class="preview" src={item.read_url} controls autoplay={false} />}
      <p class="small">
        {item.content_type} · {Math.round(item.size_bytes / 1024)} kB · captured {when(item.captured_at ?? item.created_at)} ·{" "}
        <a href={item.read_url ?? "#"} target="_blank" rel="noopener noreferrer">
          open the original
        </a>{" "}
        (the link expires at {when(item.read_url_expires_at)})
      </p>
      <button onClick={onClose}>close preview</button>
    </section>
  );
}
