import { runStandalone } from '@paygraph/server';
import { paymentsService } from './server';

await runStandalone(paymentsService);
