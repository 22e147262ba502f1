export interface BuildIdeOptions {
  /** URL prefix the assets are served under (default '/graphql/ide'). Only index.html depends on it. */
  basePath?: string;
  /** GraphQL HTTP + WebSocket path on the page's own origin (default '/graphql'). */
  endpoint?: string;
  title?: string;
}
/** Wipes outDir, then writes index.html, app.js, app.css, chunks/*, {editor,json,graphql}.worker.js. */
export function buildIde(outDir: string, options?: BuildIdeOptions): Promise<{ outDir: string; ms: number; bytes: number }>;
export function renderHtml(options?: BuildIdeOptions): string;
