/** Summarises V8 `.cpuprofile` files (one per thread, from `--cpu-prof`): self time by function and by area. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { round } from './stats';

const profileSchema = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
    }),
  ),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});

export interface ThreadProfile {
  /** `main` or `thread <tid>` (workflow threads). */
  thread: string;
  totalMs: number;
  /** Self time by area, in % of this thread's samples. */
  areas: Record<string, number>;
  /** Top functions by self time. */
  top: Array<{ fn: string; where: string; ms: number; pct: number }>;
}

/** Groups a script URL into an area of the pipeline. */
export function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.includes('workflow-bundle')) return 'workflow sandbox (bundle)';
  if (url.includes('@temporalio/core-bridge')) return 'core bridge';
  if (url.includes('@temporalio/worker')) return 'sdk worker (node side)';
  if (url.includes('@temporalio/client')) return 'sdk client';
  if (url.includes('@temporalio/proto') || url.includes('protobufjs')) return 'protobuf';
  if (url.includes('@temporalio/')) return 'sdk common';
  if (url.includes('/zod/')) return 'zod';
  if (url.includes('/pino')) return 'pino';
  if (url.includes('tsx') || url.includes('esbuild')) return 'tsx loader';
  if (url.startsWith('node:')) return 'node internals';
  if (/\/(src|activities|bench)\//.test(url)) return 'temporal-dlq code';
  return 'other';
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const parts = url.split('/');
  return parts.slice(-2).join('/');
}

/** Reads every profile in `dir`. */
export function summariseProfiles(dir: string, topN = 12): ThreadProfile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((file) => {
      const tid = /\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1] ?? '?';
      const profile = profileSchema.parse(JSON.parse(readFileSync(join(dir, file), 'utf8')));
      const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
      const selfUs = new Map<number, number>();
      profile.samples.forEach((id, i) =>
        selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
      );
      let total = 0;
      const fns = new Map<string, { fn: string; where: string; us: number }>();
      const areas = new Map<string, number>();
      for (const [id, us] of selfUs) {
        const frame = byId.get(id);
        if (!frame) continue;
        total += us;
        const fn = frame.functionName || '(anonymous)';
        const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
        const key = `${fn}@${where}`;
        const entry = fns.get(key) ?? { fn, where, us: 0 };
        entry.us += us;
        fns.set(key, entry);
        const area = areaOf(frame.url, fn);
        areas.set(area, (areas.get(area) ?? 0) + us);
      }
      const pct = (us: number) => (total > 0 ? round((100 * us) / total, 1) : 0);
      return {
        thread: tid === '0' ? 'main' : `thread ${tid}`,
        totalMs: round(total / 1000, 0),
        areas: Object.fromEntries([...areas].sort((a, b) => b[1] - a[1]).map(([k, us]) => [k, pct(us)])),
        top: [...fns.values()]
          .filter((f) => f.fn !== '(idle)')
          .sort((a, b) => b.us - a.us)
          .slice(0, topN)
          .map((f) => ({ fn: f.fn, where: f.where, ms: round(f.us / 1000, 0), pct: pct(f.us) })),
      };
    });
}
