import { runStandalone } from '@paygraph/server';
import { ledgerService } from './server';

await runStandalone(ledgerService);
