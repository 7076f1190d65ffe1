/**
 * The contract between the parts of the update client (docs/OTA.md): metadata verification
 * (`tuf/`, `uptane.ts`), download (`download/`), install backends (`install/`), the campaign
 * (`campaign/`) and the agent. Pure types.
 */

/** A target's `custom` object (the wire format is fixed: docs/OTA.md). Unknown fields are ignored. */
export interface TargetCustom {
  /** Required: the hardware this image is for. */
  hardwareIds: string[];
  version?: string;
  /** Anti-downgrade: an installed release counter is never replaced by a lower one. */
  releaseCounter?: number;
  /** UN R156 RX Software Identification Numbers this software carries. */
  rxswin?: string[];
  userInfo?: {
    purpose?: string;
    changes?: string;
    durationSeconds?: number;
    unavailableFunctions?: string[];
  };
  preconditions?: {
    minSocPercent?: number;
    parked?: boolean;
    ignitionOff?: boolean;
    consentRequired?: boolean;
    workshopOnly?: boolean;
  };
  network?: {
    cellularAllowed?: boolean;
    roamingAllowed?: boolean;
    /** Largest download allowed over cellular, bytes. */
    maxBytes?: number;
    /** Local time window `HH:MM-HH:MM` when downloading is allowed. */
    window?: string;
  };
  rollout?: {
    campaign?: string;
    /**
     * The stages, in order: a cumulative percentage of the fleet (`10`: the vehicles whose VIN
     * bucket is below 10) or a vehicle group stage (`{groups: ["pilot"]}`: the vehicles configured
     * in one of those groups). E.g. `[{groups: ["pilot"]}, 1, 10, 50, 100]`.
     */
    stages?: RolloutStage[];
    /** Index into `stages` of the current stage (absent: 0). Set by the director (`tcu-ota rollout`). */
    stage?: number;
    /** True: no vehicle starts this update now (`tcu-ota rollout pause`, or the automatic pause). */
    paused?: boolean;
  };
}

/** One stage of a staged rollout: a cumulative percentage of the fleet, or vehicle groups (ota/rollout.ts). */
export type RolloutStage = number | { groups: string[] };

/** A target both repositories agreed on, ready to download. */
export interface VerifiedTarget {
  /** The target's name (path in the repository), checked safe. */
  name: string;
  length: number;
  /** Algorithm → lowercase hex (sha256 at least). */
  hashes: Record<string, string>;
  custom: TargetCustom;
}

/** What the vehicle says about itself for the preconditions (the emulator's vehicle model, or signals). */
export interface VehicleState {
  socPercent?: number;
  parked?: boolean;
  ignitionOff?: boolean;
  consent?: boolean;
  workshop?: boolean;
}

/** One update's outcome, as `tcu-agent ota apply` prints it. */
export interface OtaOutcome {
  result: 'installed' | 'rejected' | 'deferred' | 'failed' | 'up-to-date';
  /** A stable code: an OTA_* error code, or `OK` / `UP_TO_DATE`. */
  code: string;
  target: string | null;
  detail: string;
}
