/**
 * A dashboard's subscription that survives faults: paymentStatusChanged from `after: "0"`, and
 * whenever the stream ends (socket closed by a crash, an error such as SERVICE_UNAVAILABLE, or
 * completion) it subscribes again with `after` = the last sequence it received, as the API tells
 * clients to. Everything received is kept in order for the comparison with a replay, and so is
 * why each stream ended (`endingCodes`) and each resumption's `after` (`resumedAfter`).
 */
import type { TestUser } from '@paygraph/testing';
import { subscribe, wsClient } from '../support/subscriptions';
import { sleep } from './client';

export const STATUS_CHANGED = `subscription($after: String) {
  paymentStatusChanged(after: $after) { sequence status previousStatus payment { id } }
}`;

/** Pause before subscribing again, growing to the maximum while the gateway is away. */
const RESUME_FIRST_MS = 250;
const RESUME_MAX_MS = 2_000;

export interface StatusEvent {
  sequence: string;
  paymentId: string;
  status: string;
  previousStatus: string | null;
}

export interface ResumingSubscriber {
  viewer: TestUser;
  label: string;
  events(): StatusEvent[];
  /** How many times the stream ended and was resumed, and why. */
  endings: string[];
  /**
   * Per ending, its code: the GraphQL error code(s) of the error that ended it (an error message,
   * or the error result before the completion), `SOCKET_CLOSED <close code>` when the socket
   * closed, `COMPLETED` for a completion with no error.
   */
  endingCodes: string[];
  /** The `after` of every subscription after the first (a resumption). */
  resumedAfter: string[];
  /** Results that carried errors instead of data (each ends the stream). */
  errorResults: unknown[];
  stop(): Promise<void>;
}

const toEvent = (data: Record<string, any>): StatusEvent => {
  const change = data.paymentStatusChanged;
  return { sequence: change.sequence, paymentId: change.payment.id, status: change.status, previousStatus: change.previousStatus ?? null };
};

export function startResumingSubscriber(gatewayUrl: string, viewer: TestUser, label: string): ResumingSubscriber {
  const finished: StatusEvent[] = [];
  let current: { results: { data?: Record<string, any> | null; errors?: unknown }[] } | null = null;
  const endings: string[] = [];
  const endingCodes: string[] = [];
  const resumedAfter: string[] = [];
  const errorResults: unknown[] = [];
  let stopping = false;
  let disposeCurrent: (() => Promise<void>) | null = null;

  const currentEvents = () => (current?.results ?? []).filter((result) => result.data?.paymentStatusChanged).map((result) => toEvent(result.data!));
  const all = () => [...finished, ...currentEvents()];

  const loop = async () => {
    let pause = RESUME_FIRST_MS;
    let first = true;
    while (!stopping) {
      const seen = all();
      const after = seen.length > 0 ? seen[seen.length - 1]!.sequence : '0';
      if (!first) resumedAfter.push(after);
      first = false;
      const client = wsClient(gatewayUrl, viewer.accessToken);
      const subscription = subscribe(client, STATUS_CHANGED, { after });
      current = subscription;
      let resolveStop!: () => void;
      const stopSignal = new Promise<void>((resolve) => (resolveStop = resolve));
      disposeCurrent = async () => {
        resolveStop();
      };
      let failure: unknown = null;
      const ending = await Promise.race([
        subscription.failure.then((error) => {
          failure = error;
          return `error: ${describe(error)}`;
        }),
        subscription.completed.then(() => 'completed'),
        stopSignal.then(() => 'stopped'),
      ]);
      const received = subscription.results.length;
      const resultErrors = subscription.results.filter((result) => result.errors).map((result) => result.errors);
      errorResults.push(...resultErrors);
      finished.push(...currentEvents());
      current = null;
      await subscription.dispose().catch(() => undefined);
      await Promise.resolve(client.dispose()).catch(() => undefined);
      if (ending === 'stopped') break;
      endings.push(ending);
      endingCodes.push(failure !== null ? endingCode(failure) : resultErrors.length > 0 ? endingCode(resultErrors[resultErrors.length - 1]) : 'COMPLETED');
      pause = received > 0 ? RESUME_FIRST_MS : Math.min(pause * 2, RESUME_MAX_MS);
      await sleep(pause);
    }
  };
  const running = loop();

  return {
    viewer,
    label,
    events: all,
    endings,
    endingCodes,
    resumedAfter,
    errorResults,
    stop: async () => {
      stopping = true;
      await disposeCurrent?.();
      await running;
    },
  };
}

function describe(error: unknown): string {
  if (Array.isArray(error)) return error.map((each) => (each as { extensions?: { code?: string } }).extensions?.code ?? (each as Error).message).join(',');
  const close = error as { code?: number; reason?: string };
  if (close && typeof close.code === 'number') return `close ${close.code} ${close.reason ?? ''}`.trim();
  return String((error as Error)?.message ?? error);
}

/** The code of what ended a stream: GraphQL error codes (joined), or the socket's close code. */
function endingCode(error: unknown): string {
  if (Array.isArray(error)) return error.map((each) => String((each as { extensions?: { code?: string } }).extensions?.code ?? 'NO_CODE')).join(',') || 'NO_CODE';
  const close = error as { code?: number; reason?: string };
  if (close && typeof close.code === 'number') return `SOCKET_CLOSED ${close.code}`;
  return `OTHER ${String((error as Error)?.message ?? error).slice(0, 120)}`;
}

/**
 * What a resuming subscriber met that a client is not told to expect: every ending and every error
 * result must be the retryable SERVICE_UNAVAILABLE or the socket closing at the transport level
 * (close codes below 4000: going away, abnormal closure; graphql-ws's 4xxx are protocol refusals
 * such as 4500 internal error). Empty when all is as the API promises.
 */
export function unexpectedEndings(subscriber: ResumingSubscriber): string[] {
  const allowed = (codes: string) => codes.split(',').every((code) => code === 'SERVICE_UNAVAILABLE' || /^SOCKET_CLOSED [0-3]\d{3}$/.test(code));
  const endingProblems = subscriber.endingCodes.filter((code) => !allowed(code)).map((code) => `ended ${code}`);
  const resultProblems = subscriber.errorResults.map((errors) => endingCode(errors)).filter((code) => !allowed(code)).map((code) => `error result ${code}`);
  return [...endingProblems, ...resultProblems];
}

/** Replays a viewer's whole log from `after: "0"`: collects until nothing new arrives for a while. */
export async function replayFromStart(gatewayUrl: string, viewer: TestUser, options: { quietMs?: number; timeoutMs?: number; atLeast?: number } = {}): Promise<{ events: StatusEvent[]; error: string | null }> {
  const quietMs = options.quietMs ?? 2_000;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const client = wsClient(gatewayUrl, viewer.accessToken);
  const subscription = subscribe(client, STATUS_CHANGED, { after: '0' });
  let error: string | null = null;
  void subscription.failure.then((failure) => (error = describe(failure)));
  let lastCount = -1;
  let lastChange = Date.now();
  while (Date.now() < deadline && error === null) {
    const count = subscription.results.length;
    if (count !== lastCount) {
      lastCount = count;
      lastChange = Date.now();
    } else if (Date.now() - lastChange >= quietMs && count >= (options.atLeast ?? 0)) break;
    await sleep(100);
  }
  const events = subscription.results.filter((result) => result.data?.paymentStatusChanged).map((result) => toEvent(result.data!));
  const errored = subscription.results.find((result) => result.errors);
  if (errored && error === null) error = JSON.stringify(errored.errors).slice(0, 300);
  await subscription.dispose().catch(() => undefined);
  await Promise.resolve(client.dispose()).catch(() => undefined);
  return { events, error };
}
