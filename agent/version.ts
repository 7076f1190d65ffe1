/** The agent's version, reported at start and in every status message. Kept in step with package.json by a test. */
export const AGENT_VERSION = '0.1.0';
