/**
 * Fakes of a callee for the tests of a port: a service client that refuses every call exactly as
 * the real one throws a callee's refusal, or answers every call with the same data.
 */
import type { ErrorCode } from '@paygraph/errors';
import type { ServiceClient } from './index';
import { refusalError } from './port';

/** Every call is refused by `service` with `code`, `message` and `field`, as createServiceClient throws it. */
export function refusingClient(service: string, code: ErrorCode, message: string, field: string | null = null): ServiceClient {
  return { request: async () => Promise.reject(refusalError({ service, code, message, field, details: {} })) };
}

/** Every call resolves with `data`; the calls are recorded in `sent`. */
export function answeringClient(data: unknown): ServiceClient & { sent: { service: string; document: string; variables: Record<string, unknown> | undefined }[] } {
  const sent: { service: string; document: string; variables: Record<string, unknown> | undefined }[] = [];
  return {
    sent,
    async request<TData>(service: string, document: string, variables?: Record<string, unknown>) {
      sent.push({ service, document, variables });
      return data as TData;
    },
  };
}
