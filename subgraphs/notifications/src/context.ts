import type DataLoader from 'dataloader';
import { groupLoader, rowLoader, type SubgraphContext } from '@paygraph/server';
import type { DeliveryAttemptRow, DeliveryRow } from './db/schema';
import type { NotificationSettings } from './settings';
import type { NotificationsStore } from './store/notifications-store';
import type { SecretSealer } from './webhooks/secrets';

/** What the resolvers share for the life of the service. */
export interface NotificationsDeps {
  store: NotificationsStore;
  settings: NotificationSettings;
  sealer: SecretSealer;
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
