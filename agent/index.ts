// The agent's public runtime entry: what other programs (the emulator's demo) may use of it.
export { Agent, type AgentDeps } from './runtime/agent.js';
export { readOutboxStats } from './outbox/index.js';
export type { OutboxStats } from './outbox/types.js';
export { AGENT_VERSION } from './version.js';
