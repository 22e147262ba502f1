import { runStandalone } from '@paygraph/server';
import { usersService } from './server';

await runStandalone(usersService);
