import { runStandalone } from '@paygraph/server';
import { walletService } from './server';

await runStandalone(walletService);
