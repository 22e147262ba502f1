/**
 * Runs `work` from `clients` concurrent loops until the time is up; returns completions per
 * second and latency quantiles in milliseconds.
 */
export async function timed(clients: number, durationMs: number, work: (client: number) => Promise<void>) {
  const deadline = Date.now() + durationMs;
  const latencies: number[] = [];
  let completed = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_unused, client) => {
      while (Date.now() < deadline) {
        const started = performance.now();
        await work(client);
        latencies.push(performance.now() - started);
        completed += 1;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const quantile = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { completed, perSecond: completed / (durationMs / 1000), p50: quantile(0.5), p99: quantile(0.99) };
}
