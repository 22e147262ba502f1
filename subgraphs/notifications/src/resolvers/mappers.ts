import type { WebhookEndpointRow } from '../db/schema';

/** A webhook endpoint as the API shows it: the secret only in registerWebhookEndpoint's answer. */
export type WebhookEndpointView = Pick<WebhookEndpointRow, 'id' | 'url' | 'createdAt' | 'secretRotatedAt' | 'previousSecretExpiresAt'> & { secret: string | null; enabled: boolean };

export type PreferencesView = { email: boolean; sms: boolean; push: boolean };
