/**
 * The gateway as its own process (`npm start -w gateway`): subgraphs are reached at the URLs of
 * the service list (with <NAME>_URL overrides), tokens are checked against auth's JWKS.
 */
import { loadPlatformConfig, loadServiceList } from '@paygraph/config';
import { ACCESS_TOKEN_TYPE, createTokenVerifier } from '@paygraph/identity';
import { createLogger } from '@paygraph/logging';
import { listen, runProcess } from '@paygraph/server';
import { authEndpoints } from '@paygraph/service-client';
import { createGateway } from './gateway';

const logger = createLogger({ name: 'gateway' });
await runProcess(logger, async () => {
  const config = loadPlatformConfig(process.env);
  const services = loadServiceList(process.env);
  const directory = { url: (name: string) => services.find((service) => service.name === name)!.url };
  const gateway = await createGateway({
    config,
    subgraphs: () => services,
    verifyToken: createTokenVerifier({
      keys: config.AUTH_JWKS_URL ?? authEndpoints(directory).jwks(),
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      accept: [ACCESS_TOKEN_TYPE],
    }),
    logger,
  });
  const listening = await listen(gateway.app, config.PORT, config.HOST);
  console.log(`Gateway ready at http://${config.HOST}:${listening.port}/graphql`);
  return async () => {
    await listening.close();
    await gateway.stop();
  };
});
