import { runStandalone } from '@paygraph/server';
import { riskService } from './server';

await runStandalone(riskService);
