/**
 * The delivery worker: claims due deliveries (a lease each, see the store's `claimDue`), sends
 * them outside any database transaction, and records every attempt with the delivery's new
 * status: SENT, PENDING again after a backoff (base doubling, bounded), or FAILED after the last
 * allowed attempt. It runs when kicked (right after new deliveries are committed), when the
 * earliest retry falls due, and on a timer as a safety net (deliveries written by another
 * instance, a pass that failed). Passes never overlap within a process, and start their sends
 * without waiting for them (DELIVERIES_IN_FLIGHT_MAX); across processes and passes the claim's
 * lease keeps a delivery from being sent twice at once.
 */
import type { Logger } from '@paygraph/logging';
import { traceDelivery } from '@paygraph/telemetry';
import type { Agent } from 'undici';
import { attemptErrorText, retryDelayMs, statusAfterAttempt, webhookOutcome } from '../domain/delivery-policy';
import type { NotificationSettings } from '../settings';
import type { AttemptOutcome, ClaimedDelivery, NotificationsStore } from '../store/notifications-store';
import type { SecretSealer } from '../webhooks/secrets';
import { sendWebhook, WebhookResponseError } from '../webhooks/sender';
import type { DeliveryProvider, ProviderChannel } from './providers';
import { deliveryMetrics } from './metrics';

/** Deliveries claimed per batch; a pass claims batches until none is due or DELIVERIES_IN_FLIGHT_MAX are being sent. */
export const DELIVERY_BATCH_MAX = 20;
/**
 * Sends under way at once in one process. A pass starts the sends it claims and does not wait for
 * them: a slow endpoint (up to the webhook timeout per attempt) holds its own delivery only, not the
 * next pass. When a pass waited for its whole batch, one merchant's endpoint answering in 8 s
 * delayed every other merchant's webhooks and every user's email by 5 s (the timeout), and retries
 * due in 1 s went out after 25-30 s. When the bound is reached, a send that ends starts a pass.
 */
export const DELIVERIES_IN_FLIGHT_MAX = 100;
/**
 * How long a claim lasts: longer than any send may take (webhook timeout at most 30 s, SMTP
 * connection plus socket limits), so a delivery is never sent twice at once.
 */
export const DELIVERY_LEASE_MS = 120_000;
/**
 * How long a kick waits before its pass, so the deliveries of the events that arrive meanwhile go
 * in the same claim and record (under load: one pass for several payments instead of one each).
 * Deliveries go out at most this much later; `drain()` does not wait.
 */
export const KICK_COALESCE_MS = 25;

export interface DeliveryWorker {
  /** Asks for a pass in KICK_COALESCE_MS (kicks meanwhile join it); a kick during a pass asks for one more. */
  kick(): void;
  /** Runs a pass now (after any running one) and waits for every send under way. */
  drain(): Promise<void>;
  start(): void;
  /** Stops the timers and waits for a running pass and the sends under way. */
  stop(): Promise<void>;
}

export function createDeliveryWorker(options: {
  store: NotificationsStore;
  providers: ReadonlyMap<ProviderChannel, DeliveryProvider>;
  sealer: SecretSealer;
  settings: Pick<NotificationSettings, 'deliveryAttemptsMax' | 'deliveryRetryBaseMs' | 'deliveryRetryMaxMs' | 'deliveryPollIntervalMs' | 'webhookTimeoutMs' | 'webhookPrivateAddressesAllowed'>;
  /** The webhook egress agent (webhooks/egress.ts): connects only to vetted addresses. */
  webhookAgent: Agent;
  logger: Logger;
  /** KICK_COALESCE_MS unless given (tests). */
  kickCoalesceMs?: number;
}): DeliveryWorker {
  const { store, providers, sealer, settings, logger, webhookAgent } = options;
  let chain: Promise<void> = Promise.resolve();
  let queued: Promise<void> | null = null;
  let stopped = false;
  let poll: NodeJS.Timeout | undefined;
  let wake: { timer: NodeJS.Timeout; at: number } | null = null;
  let kicked: NodeJS.Timeout | null = null;
  const metrics = deliveryMetrics(store);
  const record = attemptRecorder(store);

  /** Sends one claimed delivery; resolves with the HTTP status for webhooks. */
  async function send(delivery: ClaimedDelivery): Promise<number | null> {
    if (delivery.kind === 'WEBHOOK') {
      const webhook = delivery.webhook;
      if (!webhook || webhook.disabled) throw Object.assign(new Error('the webhook endpoint was disabled or deleted'), { code: 'ENDPOINT_DISABLED' });
      const secrets: string[] = [];
      try {
        secrets.push(sealer.open(webhook.secretSealed));
        // The replaced secret signs too while its grace period lasts (the store returns it only then).
        if (webhook.previousSecretSealed) secrets.push(sealer.open(webhook.previousSecretSealed));
      } catch {
        throw Object.assign(new Error('the endpoint signing secret cannot be read (SERVICE_SECRET changed?): rotate the secret'), { code: 'SECRET_UNREADABLE' });
      }
      return sendWebhook(
        { url: webhook.url, secrets, body: webhook.body, deliveryId: delivery.id, eventId: delivery.eventId },
        { timeoutMs: settings.webhookTimeoutMs, agent: webhookAgent, privateAddressesAllowed: settings.webhookPrivateAddressesAllowed },
      );
    }
    const notification = delivery.notification;
    const provider = providers.get(delivery.channel as ProviderChannel);
    if (!notification || !provider) throw new Error(`no provider for ${delivery.channel}`);
    await provider.send({
      deliveryId: delivery.id,
      channel: provider.channel,
      userId: delivery.userId,
      email: notification.email,
      name: notification.name,
      type: notification.type,
      title: notification.title,
      body: notification.body,
    });
    return null;
  }

  /** Sends a claimed delivery and records the attempt; resolves with when its retry falls due (null: none). */
  async function deliver(delivery: ClaimedDelivery): Promise<Date | null> {
    const attemptedAt = new Date();
    let succeeded = true;
    let responseStatus: number | null = null;
    let error: string | null = null;
    let detail: string | null = null;
    let failed: unknown = null;
    try {
      // A span continuing the trace of the payment (or other request) whose event caused it, when traced.
      responseStatus = await traceDelivery('notifications', delivery, () => send(delivery));
    } catch (failure) {
      succeeded = false;
      failed = failure;
      responseStatus = failure instanceof WebhookResponseError ? failure.status : null;
      // Webhook attempts are shown to the merchant: a coarse outcome only; the detail is logged below.
      error = delivery.kind === 'WEBHOOK' ? webhookOutcome(failure) : attemptErrorText(failure);
      detail = attemptErrorText(failure);
    }
    const status = statusAfterAttempt(succeeded, delivery.attempt, delivery.attemptsMax ?? settings.deliveryAttemptsMax);
    const retryInMs = status === 'PENDING' ? retryDelayMs(delivery.attempt, { baseMs: settings.deliveryRetryBaseMs, maxMs: settings.deliveryRetryMaxMs }) : 0;
    if (!succeeded) {
      // Never the URL or secret: the ids lead to them for those who may see them. The raw error
      // (addresses, ports) is for operators only, never stored where a merchant reads it.
      logger.warn({ deliveryId: delivery.id, channel: delivery.channel, attempt: delivery.attempt, status, retryInMs, error, detail }, 'delivery attempt failed');
    }
    const retryAt = await record({ deliveryId: delivery.id, attempt: delivery.attempt, attemptedAt, succeeded, responseStatus, error, status, retryInMs });
    metrics.attempt(delivery.channel, status, delivery.kind === 'WEBHOOK' ? { succeeded, failure: failed } : null);
    return retryAt;
  }

  /** Wakes the worker when the earliest pending delivery falls due (`due`), if that is before the next poll. */
  function scheduleWake(due: Date | null): void {
    if (!due || stopped) return;
    const at = Math.max(due.getTime(), Date.now());
    if (at - Date.now() >= settings.deliveryPollIntervalMs) return;
    if (wake && wake.at <= at) return;
    if (wake) clearTimeout(wake.timer);
    const timer = setTimeout(() => {
      wake = null;
      void run();
    }, at - Date.now());
    timer.unref();
    wake = { timer, at };
  }

  /** Sends under way (started by passes, not awaited by them). */
  const inFlight = new Set<Promise<void>>();
  /** A pass stopped at DELIVERIES_IN_FLIGHT_MAX: the next send to end starts another. */
  let saturated = false;

  /** Starts one claimed delivery's send and record; when it ends, its retry is scheduled. */
  function start(delivery: ClaimedDelivery): void {
    const sending: Promise<void> = deliver(delivery).then(
      (retryAt) => scheduleWake(retryAt),
      // Its attempt could not be recorded (the database): the claim's lease lets a later pass retry it.
      (error: unknown) => logger.error({ err: error, deliveryId: delivery.id }, 'delivery attempt could not be recorded'),
    );
    inFlight.add(sending);
    void sending.finally(() => {
      inFlight.delete(sending);
      if (saturated && !stopped) {
        saturated = false;
        void run();
      }
    });
  }

  async function pass(): Promise<void> {
    for (;;) {
      if (stopped) return;
      const room = DELIVERIES_IN_FLIGHT_MAX - inFlight.size;
      if (room <= 0) {
        saturated = true;
        return;
      }
      const limit = Math.min(DELIVERY_BATCH_MAX, room);
      const { claimed, nextDueAt } = await store.claimDue(limit, DELIVERY_LEASE_MS);
      // Started, not awaited: one delivery's failure is recorded as its attempt, and a slow one
      // holds no other. The claim's lease keeps a delivery from being sent twice at once.
      for (const delivery of claimed) start(delivery);
      if (claimed.length < limit) {
        // The earliest pending delivery the last claim left (it says when they fall due); the
        // retries of the sends just started are scheduled as each is recorded.
        scheduleWake(nextDueAt);
        return;
      }
    }
  }

  /** Waits for every send under way (and any started while waiting). */
  async function settled(): Promise<void> {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  }

  function run(): Promise<void> {
    if (queued) return queued;
    const next = chain.then(() => {
      queued = null;
      if (stopped) return;
      return pass().catch((error: unknown) => logger.error({ err: error }, 'delivery pass failed'));
    });
    queued = next;
    chain = next;
    return next;
  }

  return {
    kick() {
      if (kicked || stopped) return;
      kicked = setTimeout(() => {
        kicked = null;
        void run();
      }, options.kickCoalesceMs ?? KICK_COALESCE_MS);
    },
    async drain() {
      await run();
      await settled();
    },
    start() {
      if (poll) return;
      poll = setInterval(() => void run(), settings.deliveryPollIntervalMs);
      poll.unref();
      void run();
    },
    async stop() {
      stopped = true;
      metrics.stop();
      clearInterval(poll);
      if (wake) clearTimeout(wake.timer);
      wake = null;
      if (kicked) clearTimeout(kicked);
      kicked = null;
      await chain;
      await settled();
    },
  };
}

/**
 * Records attempts as their sends end, several in one statement: outcomes that arrive while the
 * previous write runs, or in the same turn of the event loop, are written together. Each waits
 * for its own write, so an attempt is recorded as soon as before, give or take one statement.
 * A write the database refuses is tried again outcome by outcome, so one outcome it cannot store
 * fails its own record only, as when each was written alone. Resolves with when the delivery's
 * retry falls due (null when it was not left PENDING by this record).
 */
export function attemptRecorder(store: Pick<NotificationsStore, 'recordAttempts'>): (outcome: AttemptOutcome) => Promise<Date | null> {
  type Waiting = { outcome: AttemptOutcome; resolve: (retryAt: Date | null) => void; reject: (error: unknown) => void };
  let waiting: Waiting[] = [];
  let writing = false;
  async function write(batch: Waiting[]): Promise<void> {
    try {
      const retries = await store.recordAttempts(batch.map((entry) => entry.outcome));
      for (const entry of batch) entry.resolve(retries.get(entry.outcome.deliveryId) ?? null);
    } catch (error) {
      if (batch.length === 1) batch[0]!.reject(error);
      else await Promise.all(batch.map((entry) => write([entry])));
    }
  }
  async function drain(): Promise<void> {
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      await write(batch);
    }
    writing = false;
  }
  return (outcome) =>
    new Promise((resolve, reject) => {
      waiting.push({ outcome, resolve, reject });
      if (writing) return;
      writing = true;
      setImmediate(() => void drain());
    });
}
