/**
 * The virtual machine cannot be prepared on this machine: a program, a package or the network is
 * missing. The host test skips on it (or fails under TCU_REQUIRE_SYSTEM_TESTS=1); any other error
 * from the harness is a defect and fails the run.
 */
export class VmUnavailableError extends Error {
  override readonly name = 'VmUnavailableError';
}
