import { runStandalone } from '@paygraph/server';
import { notificationsService } from './server';

await runStandalone(notificationsService);
