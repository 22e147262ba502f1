/**
 * The only place with SQL for notifications. Events are applied through the inbox
 * (`applyOnce`): the recipients projection, the notifications, their deliveries and the webhook
 * deliveries of one event commit together with the event's id, so a redelivered event changes
 * nothing. Deliveries are claimed with a lease (see `claimDue`) and each attempt is recorded with
 * the delivery's new status in one statement (`recordAttempts`, several attempts at once).
 */
import type { AuditInTransaction } from '@paygraph/audit';
import { and, asc, desc, eq, inArray, isNull, lt } from 'drizzle-orm';
import { applyOnce, type DomainEvent } from '@paygraph/events';
import { newId, type Database, type RawTransaction, type SqlRunner } from '@paygraph/db';
import { DEFAULT_PREFERENCES, extraChannels, type EventPlan, type Preferences, type RecipientFacts } from '../domain/messages';
import {
  deliveries,
  deliveryAttempts,
  notifications,
  preferences,
  webhookEndpoints,
  type DeliveryAttemptRow,
  type DeliveryRow,
  type NotificationRow,
  type WebhookEndpointRow,
  type schema,
} from '../db/schema';

type Db = Database<typeof schema>;

/** The inbox's consumer name (and the durable subscription's). */
export const CONSUMER = 'notifications';
/** Endpoints one merchant may register. */
export const WEBHOOK_ENDPOINTS_PER_MERCHANT_MAX = 10;

/** A delivery claimed by a worker, with what it needs to send it. */
export interface ClaimedDelivery {
  id: string;
  kind: 'NOTIFICATION' | 'WEBHOOK';
  channel: 'EMAIL' | 'SMS' | 'PUSH' | 'WEBHOOK';
  userId: string;
  eventId: string;
  eventType: string;
  /** The number of this attempt (1 for the first). */
  attempt: number;
  /** Attempts allowed in all when not the setting's (a resend allows one more than were made), else null. */
  attemptsMax: number | null;
  /** The traceparent of the request whose event caused the delivery (null when it was not traced). */
  traceParent: string | null;
  notification: { id: string; type: string; title: string; body: string; email: string | null; name: string | null } | null;
  webhook: { endpointId: string; url: string; secretSealed: string; previousSecretSealed: string | null; disabled: boolean; body: string } | null;
}

export interface AttemptOutcome {
  deliveryId: string;
  attempt: number;
  attemptedAt: Date;
  succeeded: boolean;
  responseStatus: number | null;
  error: string | null;
  status: 'SENT' | 'FAILED' | 'PENDING';
  /** PENDING only: when the next attempt falls due. */
  retryInMs: number;
}

// Booleans travel as text like every parameter, cast as `$n::text::boolean`: with a bare
// `$n::boolean` postgres.js types the parameter boolean and sends the string 'true' as false.
const dateOf = (value: unknown) => (value instanceof Date ? value : new Date(String(value)));
const textOrNull = (value: unknown) => (value === null || value === undefined ? null : String(value));
const list = (values: readonly string[]) => values.join(',');

/** The JSON body of a webhook delivery: the same bytes on every attempt. */
export function webhookBody(event: Pick<DomainEvent, 'id' | 'type' | 'occurredAt' | 'payload'>): string {
  return JSON.stringify({ id: event.id, type: event.type, createdAt: event.occurredAt, data: event.payload });
}

async function upsertRecipient(sql: SqlRunner, recipient: RecipientFacts, version: number | null): Promise<void> {
  if (version === null) {
    // Looked up from users: only fills a gap; an event's facts (any version) win.
    await sql.query(`insert into notifications.recipients (user_id, email, name, role, version) values ($1, $2, $3, $4, 0) on conflict (user_id) do nothing`, [
      recipient.userId,
      recipient.email,
      recipient.name,
      recipient.role,
    ]);
    return;
  }
  await sql.query(
    `insert into notifications.recipients (user_id, email, name, role, version) values ($1, $2, $3, $4, $5::integer)
     on conflict (user_id) do update set email = excluded.email, name = excluded.name, role = excluded.role, version = excluded.version, updated_at = now()
     where notifications.recipients.version < excluded.version`,
    [recipient.userId, recipient.email, recipient.name, recipient.role, String(version)],
  );
}

/** A disabled or deleted endpoint's pending deliveries end FAILED (resendable while the endpoint exists). */
async function failPendingDeliveries(sql: SqlRunner, endpointId: string): Promise<void> {
  await sql.query(`update notifications.deliveries set status = 'FAILED', last_error = 'ENDPOINT_DISABLED', updated_at = now() where endpoint_id = $1 and status = 'PENDING'`, [endpointId]);
}

/** A user the caller took as known has no recipient row: the event's transaction rolls back. */
export class RecipientsGone extends Error {
  constructor(readonly userIds: string[]) {
    super(`no recipient row for ${userIds.join(', ')}`);
  }
}

/** What an event's rows are written from: the recipients read, and the endpoints for this event. */
interface EventTargets {
  known: Map<string, { email: string | null; name: string }>;
  prefs: Map<string, Preferences>;
  endpoints: string[];
}

/**
 * The recipients among `userIds` with their preferences (none: the defaults), and for each of
 * `webhooks` (in order) the ids of its merchant's endpoints that existed, enabled, when its event
 * occurred (oldest first): one statement, for one event or several.
 */
async function readTargets(
  sql: SqlRunner,
  userIds: readonly string[],
  webhooks: readonly { merchantId: string | null; occurredAt: string }[],
): Promise<{ known: EventTargets['known']; prefs: EventTargets['prefs']; endpoints: string[][] }> {
  const known = new Map<string, { email: string | null; name: string }>();
  const prefs = new Map<string, Preferences>();
  const endpoints = webhooks.map((): string[] => []);
  const merchants = webhooks.flatMap((webhook, ord) => (webhook.merchantId ? [{ ord, merchant_id: webhook.merchantId, occurred_at: webhook.occurredAt }] : []));
  if (userIds.length === 0 && merchants.length === 0) return { known, prefs, endpoints };
  const rows = await sql.query<{ kind: string; ord: number | null; id: string; email: string | null; name: string | null; has_preferences: boolean | null; prefers_email: boolean | null; sms: boolean | null; push: boolean | null }>(
    `select 'R' as kind, null::integer as ord, r.user_id as id, r.email, r.name, p.user_id is not null as has_preferences, p.email as prefers_email, p.sms, p.push, null::timestamptz as created_at
       from notifications.recipients r left join notifications.preferences p on p.user_id = r.user_id
      where r.user_id = any(string_to_array($1, ','))
     union all
     select 'E', m.ord, e.id, null, null, null, null, null, null, e.created_at
       from jsonb_to_recordset($2::text::jsonb) as m(ord integer, merchant_id text, occurred_at timestamptz)
       cross join lateral (
         select e.id, e.created_at from notifications.webhook_endpoints e
          where e.merchant_id = m.merchant_id and e.created_at <= m.occurred_at and e.disabled_at is null) e
     order by kind desc, ord, created_at, id`,
    [list(userIds), JSON.stringify(merchants)],
  );
  for (const row of rows) {
    if (row.kind === 'E') {
      endpoints[Number(row.ord)]!.push(String(row.id));
      continue;
    }
    known.set(row.id, { email: textOrNull(row.email), name: String(row.name) });
    if (row.has_preferences) prefs.set(row.id, { email: Boolean(row.prefers_email), sms: Boolean(row.sms), push: Boolean(row.push) });
  }
  return { known, prefs, endpoints };
}

interface NotificationInsert {
  id: string;
  user_id: string;
  channel: string;
  type: string;
  title: string;
  body: string;
  status: 'SENT' | 'PENDING';
}

interface DeliveryInsert {
  id: string;
  kind: 'NOTIFICATION' | 'WEBHOOK';
  channel: string;
  notification_id: string | null;
  endpoint_id: string | null;
  user_id: string;
  body: string | null;
  email_to: string | null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Rows as one JSON parameter, in order. A lone surrogate (a name cut in the middle of an emoji)
 * becomes U+FFFD, as the UTF-8 encoding of a text parameter stores it: the same text as one
 * parameter per value, where jsonb would refuse the escape JSON.stringify writes for it.
 */
function jsonRows(rows: readonly object[]): string {
  return JSON.stringify(rows.map((row, ord) => ({ ord, ...row })), (_key, value: unknown) => (typeof value === 'string' ? value.replace(LONE_SURROGATE, '\uFFFD') : value));
}

/**
 * The rows an event writes: each planned notification on IN_APP (SENT) and on the recipient's
 * other channels (PENDING, with a delivery each), and a webhook delivery per endpoint.
 */
function rowsOfEvent(
  event: DomainEvent,
  plan: EventPlan,
  targets: EventTargets,
): { notifications: NotificationInsert[]; deliveries: DeliveryInsert[] } {
  const { known, prefs, endpoints } = targets;
  const rows: { notifications: NotificationInsert[]; deliveries: DeliveryInsert[] } = { notifications: [], deliveries: [] };
  for (const planned of plan.compose((userId) => known.get(userId)?.name ?? null)) {
    const recipient = known.get(planned.userId);
    // A user the users service does not know (deleted, or a payload naming nobody): nobody to tell.
    if (!recipient) continue;
    const common = { user_id: planned.userId, type: planned.type, title: planned.title, body: planned.body };
    rows.notifications.push({ id: newId('ntf'), channel: 'IN_APP', status: 'SENT', ...common });
    // A notice to another address (the old one) goes by EMAIL there only, whatever the preferences.
    const channels = planned.emailTo ? (['EMAIL'] as const) : extraChannels(prefs.get(planned.userId) ?? DEFAULT_PREFERENCES, recipient.email);
    for (const channel of channels) {
      const notificationId = newId('ntf');
      rows.notifications.push({ id: notificationId, channel, status: 'PENDING', ...common });
      rows.deliveries.push({ id: newId('dlv'), kind: 'NOTIFICATION', channel, notification_id: notificationId, endpoint_id: null, user_id: planned.userId, body: null, email_to: planned.emailTo ?? null });
    }
  }
  if (plan.webhookMerchantId) {
    const body = webhookBody(event);
    for (const endpointId of endpoints) {
      rows.deliveries.push({ id: newId('dlv'), kind: 'WEBHOOK', channel: 'WEBHOOK', notification_id: null, endpoint_id: endpointId, user_id: plan.webhookMerchantId, body, email_to: null });
    }
  }
  return rows;
}

/** An event's rows to write. */
interface EventWrite {
  event: DomainEvent;
  notifications: readonly NotificationInsert[];
  deliveries: readonly DeliveryInsert[];
}

/**
 * Writes the notifications and deliveries of one event or several in one statement, each table's
 * rows in the order given (event by event); a webhook delivery for an endpoint that has one for its
 * event already is skipped. With `inbox`, the same statement first inserts each event's inbox row
 * (in the order given) and writes the rows of only the events whose inbox row was not there: atomic
 * on its own, no transaction needed; a concurrent duplicate waits on the inbox row's unique key and
 * writes nothing for that event once the first commits. Returns the ids of the events applied now
 * (with `inbox`: not applied before; without: all of them).
 */
async function writeNotificationsAndDeliveries(query: SqlRunner['query'], writes: readonly EventWrite[], options: { inbox: boolean }): Promise<Set<string>> {
  const ids = new Set(writes.map((write) => write.event.id));
  const notificationRows = writes.flatMap(({ event, notifications: rows }) => rows.map((row) => ({ ...row, event_id: event.id })));
  const deliveryRows = writes.flatMap(({ event, deliveries: rows }) => rows.map((row) => ({ ...row, event_id: event.id, event_type: event.type, trace_parent: event.traceParent ?? null })));
  if (!options.inbox && notificationRows.length === 0 && deliveryRows.length === 0) return ids;
  const onlyNew = options.inbox ? 'where n.event_id in (select event_id from inbox)' : '';
  const onlyNewDeliveries = options.inbox ? 'where d.event_id in (select event_id from inbox)' : '';
  const rows = await query<{ event_id: string }>(
    `with ${options.inbox ? `inbox as (
       insert into notifications.processed_events (consumer, event_id)
       select $4, e.event_id from jsonb_to_recordset($3::text::jsonb) as e(ord integer, event_id text) order by e.ord
       on conflict do nothing returning event_id),` : ''}
     written as (
       insert into notifications.notifications (id, user_id, channel, type, title, body, status, event_id)
       select n.id, n.user_id, n.channel, n.type, n.title, n.body, n.status, n.event_id
         from jsonb_to_recordset($1::text::jsonb) as n(ord integer, id text, user_id text, channel text, type text, title text, body text, status text, event_id text) ${onlyNew}
        order by n.ord),
     delivered as (
       insert into notifications.deliveries (id, kind, channel, notification_id, endpoint_id, user_id, event_id, event_type, body, status, email_to, trace_parent)
       select d.id, d.kind, d.channel, d.notification_id, d.endpoint_id, d.user_id, d.event_id, d.event_type, d.body, 'PENDING', d.email_to, d.trace_parent
         from jsonb_to_recordset($2::text::jsonb) as d(ord integer, id text, kind text, channel text, notification_id text, endpoint_id text, user_id text, event_id text, event_type text, body text, email_to text, trace_parent text) ${onlyNewDeliveries}
        order by d.ord
       on conflict (endpoint_id, event_id) where endpoint_id is not null do nothing)
     ${options.inbox ? 'select event_id from inbox' : 'select null::text as event_id where false'}`,
    options.inbox
      ? [jsonRows(notificationRows), jsonRows(deliveryRows), jsonRows(writes.map(({ event }) => ({ event_id: event.id }))), CONSUMER]
      : [jsonRows(notificationRows), jsonRows(deliveryRows)],
  );
  return options.inbox ? new Set(rows.map((row) => row.event_id)) : ids;
}

export function createNotificationsStore(database: { db: Db; transaction: RawTransaction; query: SqlRunner['query'] }) {
  const db = database.db;
  const findEndpoint = async (id: string): Promise<WebhookEndpointRow | null> => {
    const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
    return row ?? null;
  };
  /**
   * Applies events that store no recipient's facts (payment events for users already known), each
   * once, in the order given: one statement reads the recipients with their preferences and the
   * merchants' endpoints of all of them, one writes every event's inbox row, notifications and
   * deliveries, atomic without a transaction of its own (a read before the write sees what a read
   * inside a transaction would: committed rows, nothing locked). `assumedKnown`: users the caller
   * did not check for a recipient row (it saw one before; rows are never deleted). Should one have
   * none, nothing is applied (nothing written, inbox rows included) and they are returned as
   * `gone`. Returns the ids of the events applied now (the others were applied before), how many
   * deliveries they created and the users found with a recipient row.
   */
  const applyEvents = async (
    events: readonly { event: DomainEvent; plan: EventPlan }[],
    assumedKnown: ReadonlySet<string> = new Set(),
  ): Promise<{ applied: Set<string>; deliveries: number; recipients: string[]; gone: string[] }> => {
    if (events.some(({ plan }) => plan.recipient)) throw new Error('applyEvents: an event that stores a recipient is applied alone (applyEvent)');
    const wanted = [...new Set(events.flatMap(({ plan }) => plan.userIds))];
    const read = await readTargets(
      { query: database.query },
      wanted,
      events.map(({ event, plan }) => ({ merchantId: plan.webhookMerchantId, occurredAt: event.occurredAt })),
    );
    const gone = wanted.filter((userId) => assumedKnown.has(userId) && !read.known.has(userId));
    if (gone.length > 0) return { applied: new Set(), deliveries: 0, recipients: [], gone };
    const writes = events.map(({ event, plan }, index) => ({ event, ...rowsOfEvent(event, plan, { known: read.known, prefs: read.prefs, endpoints: read.endpoints[index]! }) }));
    const applied = await writeNotificationsAndDeliveries(database.query, writes, { inbox: true });
    const deliveries = writes.reduce((sum, write) => sum + (applied.has(write.event.id) ? write.deliveries.length : 0), 0);
    return { applied, deliveries, recipients: applied.size > 0 ? [...read.known.keys()] : [], gone: [] };
  };
  return {
    /** Of `userIds`, those this service has no recipient row for. */
    async unknownRecipients(userIds: readonly string[]): Promise<string[]> {
      const unique = [...new Set(userIds)];
      if (unique.length === 0) return [];
      const rows = await database.query<{ user_id: string }>(`select user_id from notifications.recipients where user_id = any(string_to_array($1, ','))`, [list(unique)]);
      const known = new Set(rows.map((row) => row.user_id));
      return unique.filter((userId) => !known.has(userId));
    },

    applyEvents,

    /**
     * Applies an event once (false when it was applied before): stores the recipients' facts,
     * writes each planned notification on IN_APP (SENT) and on the recipient's other channels
     * (PENDING, with a delivery each), and a delivery per webhook endpoint of the merchant that
     * existed when the event occurred. Returns how many deliveries wait to be sent, and the users
     * found with a recipient row (`recipients`).
     *
     * One statement reads the recipients with their preferences and the merchant's endpoints, one
     * writes every notification and delivery. An event that stores recipients' facts (a user event,
     * a user just looked up) does it in the inbox's transaction with the upserts; any other is
     * applied as `applyEvents` applies several, with no transaction around the two. `assumedKnown`:
     * users the caller did not check for a recipient row (it saw one before; rows are never
     * deleted). Should one have none, nothing is applied (nothing written, inbox row included) and
     * they are returned as `gone`, to be checked and looked up like any unknown user before the
     * event is applied again.
     */
    async applyEvent(
      event: DomainEvent,
      plan: EventPlan,
      lookedUp: readonly RecipientFacts[],
      assumedKnown: ReadonlySet<string> = new Set(),
    ): Promise<{ applied: boolean; deliveries: number; recipients: string[]; gone: string[] }> {
      if (!plan.recipient && lookedUp.length === 0) {
        const result = await applyEvents([{ event, plan }], assumedKnown);
        return { ...result, applied: result.applied.has(event.id) };
      }
      const wanted = [...new Set([...plan.userIds, ...(plan.recipient ? [plan.recipient.userId] : [])])];
      let created = 0;
      let found: string[] = [];
      let applied: boolean;
      try {
        applied = await applyOnce(database.transaction, 'notifications', CONSUMER, event, async (sql) => {
          if (plan.recipient) await upsertRecipient(sql, plan.recipient, plan.recipient.version);
          for (const recipient of lookedUp) await upsertRecipient(sql, recipient, null);
          const read = await readTargets(sql, wanted, [{ merchantId: plan.webhookMerchantId, occurredAt: event.occurredAt }]);
          const gone = wanted.filter((userId) => assumedKnown.has(userId) && !read.known.has(userId));
          if (gone.length > 0) throw new RecipientsGone(gone);
          found = [...read.known.keys()];
          const rows = rowsOfEvent(event, plan, { known: read.known, prefs: read.prefs, endpoints: read.endpoints[0]! });
          await writeNotificationsAndDeliveries(sql.query, [{ event, ...rows }], { inbox: false });
          created = rows.deliveries.length;
        });
      } catch (error) {
        if (error instanceof RecipientsGone) return { applied: false, deliveries: 0, recipients: [], gone: error.userIds };
        throw error;
      }
      return { applied, deliveries: applied ? created : 0, recipients: applied ? found : [], gone: [] };
    },

    /** Newest first. */
    async listNotifications(filter: { userId: string; unreadOnly: boolean; beforePosition: bigint | null; limit: number }): Promise<NotificationRow[]> {
      const conditions = [eq(notifications.userId, filter.userId)];
      if (filter.unreadOnly) conditions.push(isNull(notifications.readAt));
      if (filter.beforePosition !== null) conditions.push(lt(notifications.position, filter.beforePosition));
      return db
        .select()
        .from(notifications)
        .where(and(...conditions))
        .orderBy(desc(notifications.position))
        .limit(filter.limit);
    },

    /** Marks the user's own notification read (the first time only); null when it is not theirs. */
    async markRead(userId: string, id: string): Promise<NotificationRow | null> {
      await database.query(`update notifications.notifications set read_at = now(), updated_at = now() where id = $1 and user_id = $2 and read_at is null`, [id, userId]);
      const [row] = await db.select().from(notifications).where(and(eq(notifications.id, id), eq(notifications.userId, userId)));
      return row ?? null;
    },

    async deliveriesByNotificationIds(ids: readonly string[]): Promise<DeliveryRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(deliveries).where(inArray(deliveries.notificationId, [...ids]));
    },

    async preferencesOf(userId: string): Promise<Preferences> {
      const [row] = await db.select().from(preferences).where(eq(preferences.userId, userId));
      return row ? { email: row.email, sms: row.sms, push: row.push } : { ...DEFAULT_PREFERENCES };
    },

    /** Changes the given channels only (null or undefined: unchanged), starting from the defaults. */
    async updatePreferences(userId: string, changes: Partial<Record<keyof Preferences, boolean | null | undefined>>): Promise<Preferences> {
      const value = (name: keyof Preferences) => (typeof changes[name] === 'boolean' ? String(changes[name]) : null);
      const [row] = await database.query<{ email: boolean; sms: boolean; push: boolean }>(
        `insert into notifications.preferences (user_id, email, sms, push) values ($1, coalesce($2::text::boolean, $5::text::boolean), coalesce($3::text::boolean, $6::text::boolean), coalesce($4::text::boolean, $7::text::boolean))
         on conflict (user_id) do update set email = coalesce($2::text::boolean, notifications.preferences.email), sms = coalesce($3::text::boolean, notifications.preferences.sms),
           push = coalesce($4::text::boolean, notifications.preferences.push), updated_at = now()
         returning email, sms, push`,
        [userId, value('email'), value('sms'), value('push'), String(DEFAULT_PREFERENCES.email), String(DEFAULT_PREFERENCES.sms), String(DEFAULT_PREFERENCES.push)],
      );
      return { email: Boolean(row!.email), sms: Boolean(row!.sms), push: Boolean(row!.push) };
    },

    /** Adds an endpoint unless the merchant has the maximum already (then null); `audit` records it in its transaction. */
    async createEndpoint(merchantId: string, url: string, secretSealed: string, audit?: AuditInTransaction<string>): Promise<WebhookEndpointRow | null> {
      const id = await database.transaction(async (sql) => {
        // Serialises registrations of one merchant, so concurrent ones cannot pass the limit together.
        await sql.query(`select pg_advisory_xact_lock(hashtext($1))`, [`paygraph.notifications.endpoints.${merchantId}`]);
        const [count] = await sql.query<{ count: string }>(`select count(*)::text as count from notifications.webhook_endpoints where merchant_id = $1`, [merchantId]);
        if (Number(count!.count) >= WEBHOOK_ENDPOINTS_PER_MERCHANT_MAX) return null;
        const created = newId('whe');
        await sql.query(`insert into notifications.webhook_endpoints (id, merchant_id, url, secret_sealed) values ($1, $2, $3, $4)`, [created, merchantId, url, secretSealed]);
        await audit?.(sql, created);
        return created;
      });
      if (!id) return null;
      const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
      return row!;
    },

    async endpointsOf(merchantId: string): Promise<WebhookEndpointRow[]> {
      return db.select().from(webhookEndpoints).where(eq(webhookEndpoints.merchantId, merchantId)).orderBy(asc(webhookEndpoints.createdAt), asc(webhookEndpoints.id));
    },

    async endpointById(id: string): Promise<WebhookEndpointRow | null> {
      const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
      return row ?? null;
    },

    /**
     * Disables (or enables) the merchant's endpoint; null when it is not theirs. Disabling fails
     * its pending deliveries (ENDPOINT_DISABLED: the merchant can resend them) and no new ones are
     * created until it is enabled again. `audit` records the change in its transaction.
     */
    async setEndpointEnabled(merchantId: string, id: string, enabled: boolean, audit?: AuditInTransaction): Promise<WebhookEndpointRow | null> {
      const found = await database.transaction(async (sql) => {
        const [row] = await sql.query<{ id: string }>(
          `update notifications.webhook_endpoints set disabled_at = case when $3::text::boolean then null else coalesce(disabled_at, now()) end, updated_at = now()
            where id = $1 and merchant_id = $2 returning id`,
          [id, merchantId, String(enabled)],
        );
        if (!row) return false;
        if (!enabled) await failPendingDeliveries(sql, id);
        await audit?.(sql);
        return true;
      });
      return found ? findEndpoint(id) : null;
    },

    /**
     * Deletes the merchant's endpoint and fails its pending deliveries; false when it is not theirs.
     * `audit` records the deletion in its transaction.
     */
    async deleteEndpoint(merchantId: string, id: string, audit?: AuditInTransaction): Promise<boolean> {
      return database.transaction(async (sql) => {
        const deleted = await sql.query(`delete from notifications.webhook_endpoints where id = $1 and merchant_id = $2 returning id`, [id, merchantId]);
        if (deleted.length === 0) return false;
        await failPendingDeliveries(sql, id);
        await audit?.(sql);
        return true;
      });
    },

    /**
     * Replaces the signing secret; the replaced one keeps signing (a second v1) until
     * `graceSeconds` from now. Null when the endpoint is not the merchant's. `audit` records the
     * rotation in its transaction.
     */
    async rotateSecret(merchantId: string, id: string, secretSealed: string, graceSeconds: number, audit?: AuditInTransaction): Promise<WebhookEndpointRow | null> {
      const rotated = await database.transaction(async (sql) => {
        const updated = await sql.query(
          `update notifications.webhook_endpoints
              set previous_secret_sealed = secret_sealed, secret_sealed = $3,
                  previous_secret_expires_at = now() + $4::integer * interval '1 second', secret_rotated_at = now(), updated_at = now()
            where id = $1 and merchant_id = $2 returning id`,
          [id, merchantId, secretSealed, String(graceSeconds)],
        );
        if (updated.length === 0) return false;
        await audit?.(sql);
        return true;
      });
      return rotated ? findEndpoint(id) : null;
    },

    /**
     * During a SERVICE_SECRET rotation: seals every endpoint secret (and previous secret) again
     * under the current platform secret, so the previous one can be dropped. Each row is updated
     * only if it still holds what was read (a rotation in between wins). Returns the rows resealed.
     */
    async resealEndpointSecrets(sealer: { open(sealed: string): string; seal(plain: string): string; sealedWithCurrent(sealed: string): boolean }): Promise<number> {
      const rows = await database.query<{ id: string; secret_sealed: string; previous_secret_sealed: string | null }>(
        `select id, secret_sealed, previous_secret_sealed from notifications.webhook_endpoints`,
      );
      let resealed = 0;
      for (const row of rows) {
        const stale = (sealed: string | null) => sealed !== null && !sealer.sealedWithCurrent(sealed);
        if (!stale(row.secret_sealed) && !stale(row.previous_secret_sealed)) continue;
        const again = (sealed: string | null) => (sealed !== null && stale(sealed) ? sealer.seal(sealer.open(sealed)) : sealed);
        let secret: string | null;
        let previous: string | null;
        try {
          [secret, previous] = [again(row.secret_sealed), again(row.previous_secret_sealed)];
        } catch {
          continue; // sealed with neither secret: unreadable already (its deliveries say SECRET_UNREADABLE)
        }
        const updated = await database.query(
          `update notifications.webhook_endpoints set secret_sealed = $2, previous_secret_sealed = $3
            where id = $1 and secret_sealed = $4 and previous_secret_sealed is not distinct from $5 returning id`,
          [row.id, secret, previous, row.secret_sealed, row.previous_secret_sealed],
        );
        resealed += updated.length;
      }
      return resealed;
    },

    /**
     * Sends a finished (SENT or FAILED) webhook delivery once more, now: PENDING again with its
     * attempt count kept, so the next attempt is numbered after the earlier ones and is the only
     * one (a resend is one attempt; the merchant may resend again). Null when it is not the
     * merchant's, or its endpoint is disabled; 'PENDING' when it is still being delivered.
     */
    async resendDelivery(merchantId: string, id: string): Promise<DeliveryRow | 'PENDING' | null> {
      const [row] = await database.query<{ status: string }>(
        `select d.status from notifications.deliveries d join notifications.webhook_endpoints e on e.id = d.endpoint_id
          where d.id = $1 and d.kind = 'WEBHOOK' and e.merchant_id = $2 and e.disabled_at is null`,
        [id, merchantId],
      );
      if (!row) return null;
      if (row.status === 'PENDING') return 'PENDING';
      // One more attempt, now: should it fail, the delivery ends FAILED again (no retries follow).
      await database.query(`update notifications.deliveries set status = 'PENDING', next_attempt_at = now(), attempts_max = attempts + 1, updated_at = now() where id = $1 and status <> 'PENDING'`, [id]);
      const [delivery] = await db.select().from(deliveries).where(eq(deliveries.id, id));
      return delivery ?? null;
    },

    /** Newest first. */
    async deliveriesOfEndpoint(endpointId: string, beforePosition: bigint | null, limit: number): Promise<DeliveryRow[]> {
      const conditions = [eq(deliveries.endpointId, endpointId)];
      if (beforePosition !== null) conditions.push(lt(deliveries.position, beforePosition));
      return db
        .select()
        .from(deliveries)
        .where(and(...conditions))
        .orderBy(desc(deliveries.position))
        .limit(limit);
    },

    async attemptsByDeliveryIds(ids: readonly string[]): Promise<DeliveryAttemptRow[]> {
      if (ids.length === 0) return [];
      return db.select().from(deliveryAttempts).where(inArray(deliveryAttempts.deliveryId, [...ids])).orderBy(asc(deliveryAttempts.number));
    },

    /**
     * Claims up to `limit` due deliveries in one statement: counts the attempt and moves
     * `next_attempt_at` `leaseMs` ahead, so no other worker takes them while this one sends
     * (`skip locked`: two workers claiming at once take different rows). A worker that dies
     * mid-send leaves the delivery to be claimed again when the lease ends. The same statement
     * says when the earliest pending delivery it did not claim falls due (null when none waits).
     */
    async claimDue(limit: number, leaseMs: number): Promise<{ claimed: ClaimedDelivery[]; nextDueAt: Date | null }> {
      const rows = await database.query(
        `with due as (
           select id from notifications.deliveries
            where status = 'PENDING' and next_attempt_at <= now()
            order by next_attempt_at limit $1::integer
            for update skip locked),
         claimed as (
           update notifications.deliveries d
              set attempts = d.attempts + 1, next_attempt_at = now() + $2::integer * interval '1 millisecond', updated_at = now()
             from due where d.id = due.id
           returning d.id, d.kind, d.channel, d.notification_id, d.endpoint_id, d.user_id, d.event_id, d.event_type, d.body, d.attempts, d.attempts_max, d.email_to, d.trace_parent),
         later as (
           select min(next_attempt_at) as next_due_at from notifications.deliveries
            where status = 'PENDING' and id not in (select id from due))
         select later.next_due_at, c.*, n.type as notification_type, n.title, n.body as notification_body, coalesce(c.email_to, r.email) as email, r.name, e.url, e.secret_sealed,
                (e.disabled_at is not null) as endpoint_disabled,
                case when e.previous_secret_expires_at > now() then e.previous_secret_sealed end as previous_secret_sealed
           from later
           left join claimed c on true
           left join notifications.notifications n on n.id = c.notification_id
           left join notifications.recipients r on r.user_id = c.user_id
           left join notifications.webhook_endpoints e on e.id = c.endpoint_id`,
        [String(limit), String(leaseMs)],
      );
      const nextDueAt = rows[0]?.next_due_at === null || rows[0]?.next_due_at === undefined ? null : dateOf(rows[0].next_due_at);
      const claimed = rows
        .filter((row) => row.id !== null && row.id !== undefined)
        .map((row) => ({
          id: String(row.id),
          kind: row.kind as ClaimedDelivery['kind'],
          channel: row.channel as ClaimedDelivery['channel'],
          userId: String(row.user_id),
          eventId: String(row.event_id),
          eventType: String(row.event_type),
          attempt: Number(row.attempts),
          attemptsMax: row.attempts_max === null || row.attempts_max === undefined ? null : Number(row.attempts_max),
          traceParent: textOrNull(row.trace_parent),
          notification:
            row.notification_id === null || row.notification_id === undefined
              ? null
              : { id: String(row.notification_id), type: String(row.notification_type), title: String(row.title), body: String(row.notification_body), email: textOrNull(row.email), name: textOrNull(row.name) },
          webhook:
            row.endpoint_id === null || row.endpoint_id === undefined || row.url === null || row.url === undefined
              ? null
              : {
                  endpointId: String(row.endpoint_id),
                  url: String(row.url),
                  secretSealed: String(row.secret_sealed),
                  previousSecretSealed: textOrNull(row.previous_secret_sealed),
                  disabled: row.endpoint_disabled === true || row.endpoint_disabled === 't',
                  body: String(row.body),
                },
        }));
      return { claimed, nextDueAt };
    },

    /**
     * Records attempts, one statement for all: each attempt, what its delivery becomes, and its
     * notification moved along. Each delivery is updated only while it is still this worker's
     * claim (same attempt number, still PENDING): a worker whose lease ran out records its attempt
     * but changes nothing else. Returns, for the deliveries left PENDING (a retry), when their next
     * attempt falls due.
     */
    async recordAttempts(outcomes: readonly AttemptOutcome[]): Promise<Map<string, Date>> {
      const retries = new Map<string, Date>();
      if (outcomes.length === 0) return retries;
      const rows = await database.query<{ id: string; next_attempt_at: unknown }>(
        `with outcome as (
           select * from jsonb_to_recordset($1::text::jsonb)
             as o(ord integer, delivery_id text, attempt integer, attempted_at timestamptz, succeeded boolean, response_status integer, error text, status text, retry_in_ms integer)),
         attempt as (
           insert into notifications.delivery_attempts (delivery_id, number, attempted_at, succeeded, response_status, error)
           select delivery_id, attempt, attempted_at, succeeded, response_status, error from outcome order by ord
           on conflict do nothing),
         delivery as (
           update notifications.deliveries d
              set status = o.status, last_error = o.error,
                  next_attempt_at = case when o.status = 'PENDING' then now() + o.retry_in_ms * interval '1 millisecond' else d.next_attempt_at end,
                  updated_at = now()
             from outcome o
            where d.id = o.delivery_id and d.attempts = o.attempt and d.status = 'PENDING'
           returning d.id, d.notification_id, d.status, d.next_attempt_at),
         notification as (
           update notifications.notifications n set status = delivery.status, updated_at = now()
             from delivery
            where n.id = delivery.notification_id and delivery.status <> 'PENDING' and n.status = 'PENDING')
         select id, next_attempt_at from delivery where status = 'PENDING'`,
        [
          jsonRows(
            outcomes.map((outcome) => ({
              delivery_id: outcome.deliveryId,
              attempt: outcome.attempt,
              attempted_at: outcome.attemptedAt.toISOString(),
              succeeded: outcome.succeeded,
              response_status: outcome.responseStatus,
              error: outcome.error,
              status: outcome.status,
              retry_in_ms: outcome.retryInMs,
            })),
          ),
        ],
      );
      for (const row of rows) retries.set(String(row.id), dateOf(row.next_attempt_at));
      return retries;
    },

    /** Pending deliveries: due now, and scheduled for a later retry (the delivery queue's depth, for /metrics). */
    async deliveryQueueDepth(): Promise<{ due: number; scheduled: number }> {
      const [row] = await database.query<{ due: string; scheduled: string }>(
        `select count(*) filter (where next_attempt_at <= now())::text as due, count(*) filter (where next_attempt_at > now())::text as scheduled
           from notifications.deliveries where status = 'PENDING'`,
      );
      return { due: Number(row?.due ?? 0), scheduled: Number(row?.scheduled ?? 0) };
    },
  };
}

export type NotificationsStore = ReturnType<typeof createNotificationsStore>;
