import type DataLoader from 'dataloader';
import type { AuditRecorder } from '@paygraph/audit';
import { groupLoader, rowLoader, type SubgraphContext } from '@paygraph/server';
import type { DeliveryAttemptRow, DeliveryRow } from './db/schema';
import type { NotificationSettings } from './settings';
import type { NotificationsStore } from './store/notifications-store';
import type { ResolveAll } from './webhooks/egress';
import type { SecretSealer } from './webhooks/secrets';

/** What the resolvers share for the life of the service. */
export interface NotificationsDeps {
  store: NotificationsStore;
  settings: NotificationSettings;
  sealer: SecretSealer;
  /** Resolves webhook hosts at registration (the system resolver; tests inject one). */
  resolveAll: ResolveAll;
  /** Webhook endpoint changes and secret rotations go to the audit trail. */
  audit: AuditRecorder;
  /** Asks the delivery worker for a pass now (after a resend). */
  kickWorker: () => void;
}

/** Per-request context of the notifications subgraph. */
export interface Context extends SubgraphContext, NotificationsDeps {
  loaders: {
    deliveryByNotificationId: DataLoader<string, DeliveryRow | null>;
    attemptsByDeliveryId: DataLoader<string, DeliveryAttemptRow[]>;
  };
}

export function createContext(base: SubgraphContext, deps: NotificationsDeps): Context {
  return {
    ...base,
    ...deps,
    loaders: {
      deliveryByNotificationId: rowLoader(deps.store.deliveriesByNotificationIds, (row) => row.notificationId),
      attemptsByDeliveryId: groupLoader(deps.store.attemptsByDeliveryIds, (row) => row.deliveryId),
    },
  };
}
