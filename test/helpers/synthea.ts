import { join } from 'node:path';
import { projectRoot } from '../../server/paths.js';

/**
 * The shared Synthea R4 set: `../shared/data/synthea-r4` beside the project (present in
 * CI), or `KILN_SYNTHEA_DIR`. Suites that need it skip, saying so, when it is absent.
 */
export const SYNTHEA_DIR = process.env.KILN_SYNTHEA_DIR ?? join(projectRoot(), '..', 'shared', 'data', 'synthea-r4');
