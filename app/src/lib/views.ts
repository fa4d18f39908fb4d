import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

// Templates live beside dist/ (app/views in the repo, /opt/crm/views when deployed).
const viewsDir = fileURLToPath(new URL('../../views', import.meta.url));

// autoEscape: `<%= %>` HTML-escapes; only `<%~ %>` (used for trusted partials) does not.
export const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true });
