import { defineConfig } from "vite";

// Preact's JSX through esbuild directly: no Babel plugin needed for a static bundle.
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: { main: "index.html", apidocs: "api-docs.html" },
    },
  },
  server: { proxy: { "/api": "http://127.0.0.1:8081", "/health": "http://127.0.0.1:8081" } },
});
