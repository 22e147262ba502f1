/** Every process of a test run must agree on it (service credentials, signing-key encryption). */
export const TEST_SERVICE_SECRET = 'test-service-secret-0123456789abcdef-0123456789';
