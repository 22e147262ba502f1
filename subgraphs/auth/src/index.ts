import { runStandalone } from '@paygraph/server';
import { authService } from './server';

await runStandalone(authService);
