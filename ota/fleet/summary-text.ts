import { stageText } from '../rollout.js';
import type { CampaignSummary, StageSummary } from './summary.js';

/** The status summary as text for a terminal (`tcu-ota status` without --json). Pure. */
export function formatSummaries(summaries: readonly (CampaignSummary & { action?: string })[], thresholdPercent: number): string {
  if (summaries.length === 0) return 'no campaigns and no reports\n';
  const lines: string[] = [];
  for (const s of summaries) {
    const where = s.stages === null ? 'stages unknown (give --director)' : `stages ${stagesList(s.stages)}, at stage ${s.stage} (${stageText(s.stages[s.stage ?? 0]!)})${s.paused ? ', PAUSED' : ''}`;
    lines.push(`campaign ${s.campaign}: ${where}; ${s.vehicles} vehicle${s.vehicles === 1 ? '' : 's'} reported`);
    for (const g of s.groups) lines.push(`  ${groupLabel(g)}: ${groupLine(g, thresholdPercent)}`);
    if (s.action !== undefined && s.action !== 'none') lines.push(`  -> ${s.action}`);
  }
  return `${lines.join('\n')}\n`;
}

function groupLabel(g: StageSummary): string {
  if (g.group === 'all') return 'all vehicles';
  if (g.group === 'outside') return 'outside the stages';
  if (g.stageGroups !== null) return `stage ${g.stage} (groups ${g.stageGroups.join(', ')})`;
  return `stage ${g.stage} (up to ${g.percent} %)`;
}

/** `1, 10, 50, 100 %` as before group stages existed; with them `group:pilot, 10 %, 100 %`. */
function stagesList(stages: NonNullable<CampaignSummary['stages']>): string {
  if (stages.every((s) => typeof s === 'number')) return `${stages.join(', ')} %`;
  return stages.map(stageText).join(', ');
}

function groupLine(g: StageSummary, threshold: number): string {
  if (g.vehicles === 0) return 'no reports';
  const states = Object.entries(g.states)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${state} ${n}`)
    .join(', ');
  const codes = Object.entries(g.failureCodes)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  const rate = g.failureRate === null ? 'no failure rate yet' : `failure rate ${g.failureRate} %${g.overThreshold ? ` OVER THE ${threshold} % THRESHOLD` : ''}`;
  return `${g.vehicles} vehicle${g.vehicles === 1 ? '' : 's'} (${states})${codes ? `; failures: ${codes}` : ''}; ${rate}`;
}
