import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { getToken, setToken } from "./api";
import { loadConfig } from "./config";
import { Audit } from "./pages/audit";
import { Dashboard } from "./pages/dashboard";
import { Datasets } from "./pages/datasets";
import { Devices } from "./pages/devices";
import { Ingest } from "./pages/ingest";
import { Ingestions } from "./pages/ingestions";
import { Media } from "./pages/media";
import { Ops } from "./pages/ops";
import { Products } from "./pages/products";
import { Quarantine } from "./pages/quarantine";
import { Trends } from "./pages/trends";
import { href, type Route, useRoute } from "./router";
import "./style.css";

const PAGES: { path: string; title: string; view: (r: Route) => preact.JSX.Element }[] = [
  { path: "", title: "Dashboard", view: () => <Dashboard /> },
  { path: "ingestions", title: "Ingestions", view: (r) => <Ingestions route={r} /> },
  { path: "ingest", title: "Ingest", view: () => <Ingest /> },
  { path: "datasets", title: "Datasets", view: (r) => <Datasets route={r} /> },
  { path: "products", title: "Products", view: () => <Products /> },
  { path: "quarantine", title: "Quarantine", view: (r) => <Quarantine route={r} /> },
  { path: "devices", title: "Devices", view: (r) => <Devices route={r} /> },
  { path: "media", title: "Media", view: (r) => <Media route={r} /> },
  { path: "trends", title: "Trends", view: (r) => <Trends route={r} /> },
  { path: "audit", title: "Audit", view: (r) => <Audit route={r} /> },
  { path: "ops", title: "Ops", view: () => <Ops /> },
];

function TokenBar() {
  const [draft, setDraft] = useState("");
  const [has, setHas] = useState(Boolean(getToken()));
  useEffect(() => {
    const on = () => setHas(Boolean(getToken()));
    window.addEventListener("eventpulse-token", on);
    return () => window.removeEventListener("eventpulse-token", on);
  }, []);
  if (has)
    return (
      <div class="token">
        <span class="muted">token set for this session</span>
        <button onClick={() => setToken("")}>forget token</button>
      </div>
    );
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(draft.trim());
        setDraft("");
      }}
    >
      <label>
        API token{" "}
        <input
          type="password"
          name="token"
          autocomplete="off"
          placeholder="Bearer token"
          value={draft}
          onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit">use token</button>
    </form>
  );
}

function App() {
  const route = useRoute();
  const [version, setVersion] = useState("");
  useEffect(() => {
    loadConfig().then((c) => setVersion(c.version));
  }, []);
  const page = PAGES.find((p) => p.path === (route.parts[0] ?? "")) ?? PAGES[0];
  useEffect(() => {
    document.title = `${page.title} · EventPulse`;
  }, [page]);
  return (
    <>
      <header>
        <a class="brand" href="#/">
          EventPulse
        </a>
        <nav aria-label="pages">
          {PAGES.map((p) => (
            <a href={href(p.path ? [p.path] : [])} aria-current={p === page ? "page" : undefined}>
              {p.title}
            </a>
          ))}
          <a href="api/docs">API</a>
        </nav>
        <TokenBar />
      </header>
      <main>
        <h1>{page.title}</h1>
        {page.view(route)}
      </main>
      <footer class="muted">EventPulse {version}</footer>
    </>
  );
}

render(<App />, document.getElementById("app")!);
