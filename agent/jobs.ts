import { createTask, validate, type ScheduledTask } from 'node-cron';
import { TcuError } from '../core/errors.js';

/** Runs tasks on cron schedules; injected so tests can drive jobs directly. */
export interface Scheduler {
  /** Starts `task` on `expression` (6 fields with seconds, or 5). CONFIG_INVALID for a bad expression. */
  schedule(name: string, expression: string, task: () => void): { stop(): void };
}

/** node-cron: tasks are named, do not overlap, and never keep the process alive on their own. */
export function cronScheduler(): Scheduler {
  return {
    schedule(name, expression, task) {
      if (!validate(expression)) {
        throw new TcuError('CONFIG_INVALID', `/jobs/${name}: "${expression}" is not a valid cron expression`, { details: { job: name, expression } });
      }
      const cron: ScheduledTask = createTask(expression, () => task(), { name, noOverlap: true, unref: true });
      void cron.start();
      return {
        stop: () => {
          void cron.destroy();
        },
      };
    },
  };
}
