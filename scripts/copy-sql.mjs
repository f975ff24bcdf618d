// tsc does not copy non-TS files; migrations ship as .sql beside the compiled store.
import { cpSync } from 'node:fs';

cpSync('src/store/migrations', 'dist/store/migrations', { recursive: true });
