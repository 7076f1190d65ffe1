import { describe, expect, it } from 'vitest';
import { isTcuError } from '../../../core/errors.js';
import { destination, distanceM, normalizeHeading } from '../../../hw-emulator/vehicle/geo.js';
import { VehicleModel } from '../../../hw-emulator/vehicle/model.js';
import { DEFAULT_SPEC, wheelRpm } from '../../../hw-emulator/vehicle/powertrain.js';
import { SeededRng } from '../../../hw-emulator/vehicle/random.js';
import type { DrivePhase, VehicleState } from '../../../hw-emulator/vehicle/state.js';

const STEP_MS = 100;
const HOUR_STEPS = 3600_000 / STEP_MS;

function finiteEverywhere(state: VehicleState): string[] {
  const bad: string[] = [];
  const visit = (obj: object, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'number' && !Number.isFinite(v)) bad.push(`${prefix}${k}=${v}`);
      else if (typeof v === 'object' && v !== null) visit(v as object, `${prefix}${k}.`);
    }
  };
  visit(state, '');
  return bad;
}

/** Drives a model for a simulated hour and checks every 100 ms step. */
function driveAnHour(seed: number): { phases: Set<DrivePhase>; maxSpeed: number; distanceKm: number; highway: boolean } {
  const model = new VehicleModel({ seed, fuelLevelPct: 60, socPct: 60, parkSeconds: [30, 120] });
  let prev = model.snapshot();
  const first = prev;
  const phases = new Set<DrivePhase>([prev.phase]);
  const problems: string[] = [];
  // Plain checks (not expect) inside the loop: 36,000 steps × 30 checks would be slow with expect.
  const check = (ok: boolean, what: string, s: VehicleState): void => {
    if (!ok && problems.length < 10) problems.push(`seed ${seed} t=${s.timeMs} ms ${s.phase}: ${what}`);
  };
  let maxSpeed = 0;
  let highway = false;
  let gearChecked = 0;
  let gearMatched = 0;
  let runningSteps = 0;
  for (let i = 0; i < HOUR_STEPS; i++) {
    model.step(STEP_MS);
    const s = model.snapshot();
    const dtS = STEP_MS / 1000;
    phases.add(s.phase);
    highway ||= s.road === 'highway';
    maxSpeed = Math.max(maxSpeed, s.speedKmh);

    const bad = finiteEverywhere(s);
    check(bad.length === 0, `not finite: ${bad.join(', ')}`, s);
    check(Math.abs(s.timeMs - prev.timeMs - STEP_MS) < 1e-6, 'time advances by the step', s);
    check(s.speedKmh >= 0 && s.speedKmh < 160, `speed ${s.speedKmh}`, s);
    check(Math.abs(s.speedKmh - prev.speedKmh) < 1.5, `speed jumps ${prev.speedKmh} → ${s.speedKmh}`, s); // ≤ 4 m/s², jerk-limited
    check(s.engineRpm >= 0 && s.engineRpm <= DEFAULT_SPEC.maxRpm + 500, `rpm ${s.engineRpm}`, s);
    if (s.ignition === 'off') {
      check(s.engineRpm === 0, `rpm ${s.engineRpm} with the ignition off`, s);
      check(!s.engineRunning, 'engine running with the ignition off', s);
      check(s.speedKmh === 0, 'moving with the ignition off', s);
      check(s.batteryVoltage > 11.9 && s.batteryVoltage < 14.5, `voltage ${s.batteryVoltage} with the ignition off`, s);
    }
    runningSteps = s.engineRunning ? runningSteps + 1 : 0;
    if (runningSteps > 10 && s.speedKmh === 0 && prev.speedKmh === 0 && s.acceleratorPedalPct === 0) {
      check(s.engineRpm > 650 && s.engineRpm < 1600, `idle rpm ${s.engineRpm}`, s);
    }
    if (runningSteps > 30) check(s.batteryVoltage > 13.5 && s.batteryVoltage < 14.8, `charging voltage ${s.batteryVoltage}`, s);
    // Gear and lever agree; engine speed follows gear and road speed.
    if (s.gear === 'D' && s.engineRunning) check(s.currentGear >= 1 && s.currentGear <= 6, `gear ${s.currentGear} in D`, s);
    if (s.gear === 'R' && s.engineRunning) check(s.currentGear === -1, `gear ${s.currentGear} in R`, s);
    if (s.gear === 'P' || s.gear === 'N') check(s.currentGear === 0, `gear ${s.currentGear} in ${s.gear}`, s);
    if (s.gear === 'D' && s.speedKmh > 25 && s.currentGear >= 1) {
      const ratio = DEFAULT_SPEC.gearRatios[s.currentGear - 1]!;
      const geared = wheelRpm(DEFAULT_SPEC, s.speedKmh / 3.6) * ratio * DEFAULT_SPEC.finalDrive;
      gearChecked++;
      if (Math.abs(s.engineRpm - geared) / geared < 0.1) gearMatched++;
    }
    // Odometer integrates speed; energy only goes down (no refuelling from 60 % within an hour).
    const dOdoM = (s.odometerKm - prev.odometerKm) * 1000;
    check(dOdoM >= 0, 'odometer went back', s);
    const expectM = ((s.speedKmh + prev.speedKmh) / 2 / 3.6) * dtS;
    check(Math.abs(dOdoM - expectM) < 0.03, `odometer moved ${dOdoM} m, speed says ${expectM} m`, s);
    check(s.fuelLevelPct <= prev.fuelLevelPct, 'fuel rose', s);
    check(s.socPct <= prev.socPct, 'state of charge rose', s);
    // The GNSS track moves by speed × dt.
    const moved = distanceM(prev.gnss, s.gnss);
    check(Math.abs(moved - expectM) < 0.03 + 0.002 * expectM, `GNSS moved ${moved} m, speed says ${expectM} m`, s);
    check(s.gnss.speedKmh === s.speedKmh, 'GNSS speed differs', s);
    check(s.gnss.headingDeg >= 0 && s.gnss.headingDeg < 360, `heading ${s.gnss.headingDeg}`, s);
    // Plausible ranges.
    check(s.coolantTempC > -40 && s.coolantTempC < 100, `coolant ${s.coolantTempC}`, s);
    check(Math.abs(s.steeringAngleDeg) < 540, `steering ${s.steeringAngleDeg}`, s);
    check(Math.abs(s.yawRateDegS) < 60, `yaw rate ${s.yawRateDegS}`, s);
    check(Math.abs(s.lateralAccelMps2) < 4, `lateral acceleration ${s.lateralAccelMps2}`, s);
    check(s.acceleratorPedalPct >= 0 && s.acceleratorPedalPct <= 100, `accelerator ${s.acceleratorPedalPct}`, s);
    check(s.brakePedalPct >= 0 && s.brakePedalPct <= 100, `brake ${s.brakePedalPct}`, s);
    check(Math.abs(s.outsideTempC - first.outsideTempC) <= 6, `outside temperature ${s.outsideTempC}`, s);
    prev = s;
  }
  expect(problems).toEqual([]);
  const distanceKm = prev.odometerKm - first.odometerKm;
  if (distanceKm > 1) {
    expect(prev.fuelLevelPct).toBeLessThan(first.fuelLevelPct);
    expect(prev.socPct).toBeLessThan(first.socPct);
  }
  if (gearChecked > 100) expect(gearMatched / gearChecked).toBeGreaterThan(0.95);
  return { phases, maxSpeed, distanceKm, highway };
}

describe('VehicleModel drive cycle', () => {
  it('stays physically plausible over a simulated hour, for several seeds', () => {
    const results = [1, 2, 3].map(driveAnHour);
    for (const r of results) {
      for (const phase of ['parked', 'accessory', 'warmup', 'driving', 'stopped', 'parking'] as const) {
        expect(r.phases.has(phase), `phase ${phase}`).toBe(true);
      }
      expect(r.distanceKm).toBeGreaterThan(5);
      expect(r.distanceKm).toBeLessThan(140);
    }
    expect(results.some((r) => r.highway && r.maxSpeed > 95)).toBe(true);
    expect(results.some((r) => r.phases.has('reversing'))).toBe(true);
  });

  it('warms the coolant towards 90 °C with the engine running and cools it when parked', () => {
    const model = new VehicleModel({ seed: 7, outsideTempC: 10, initialParkSeconds: 1 });
    let hottest = -Infinity;
    let last = model.snapshot();
    for (let i = 0; i < 15 * 60 * 10; i++) {
      model.step(STEP_MS);
      last = model.snapshot();
      hottest = Math.max(hottest, last.coolantTempC);
    }
    expect(hottest).toBeGreaterThan(80);
    expect(hottest).toBeLessThan(96);
    // Park it for a long time: it cools towards the outside temperature.
    const cooling = new VehicleModel({ seed: 7, outsideTempC: 10, initialParkSeconds: 1, parkSeconds: [7200, 7200] });
    let parkedAt: VehicleState | undefined;
    for (let i = 0; i < 4 * 3600 * 10 && !parkedAt; i++) {
      cooling.step(STEP_MS);
      const s = cooling.snapshot();
      if (s.phase === 'parked' && s.timeMs > 60_000) parkedAt = s;
    }
    expect(parkedAt).toBeDefined();
    cooling.step(3600_000);
    const later = cooling.snapshot();
    expect(later.ignition).toBe('off');
    expect(later.coolantTempC).toBeLessThan(parkedAt!.coolantTempC - 10);
    expect(later.batteryVoltage).toBeGreaterThan(12.1);
    expect(later.batteryVoltage).toBeLessThan(12.7);
  });

  it('is deterministic for a seed and differs between seeds', () => {
    const run = (seed: number): VehicleState[] => {
      const m = new VehicleModel({ rng: new SeededRng(seed) });
      const out: VehicleState[] = [];
      for (let i = 0; i < 600; i++) {
        m.step(250);
        if (i % 20 === 0) out.push(m.snapshot());
      }
      return out;
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it('starts near Wolfsburg by default, at a seed-dependent spot, or where told', () => {
    const wolfsburg = { latitude: 52.4227, longitude: 10.7865 };
    const a = new VehicleModel({ seed: 1 }).snapshot().gnss;
    const b = new VehicleModel({ seed: 2 }).snapshot().gnss;
    expect(distanceM(a, wolfsburg)).toBeLessThan(2000);
    expect(distanceM(b, wolfsburg)).toBeLessThan(2000);
    expect(distanceM(a, b)).toBeGreaterThan(1);
    const c = new VehicleModel({ seed: 1, start: { latitude: 48.137, longitude: 11.575, altitudeM: 520, headingDeg: 90 } }).snapshot();
    expect(c.gnss).toMatchObject({ latitude: 48.137, longitude: 11.575, altitudeM: 520, headingDeg: 90 });
  });

  it('refuses an invalid time step with EMULATOR_CONFIG', () => {
    const model = new VehicleModel({ seed: 1 });
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(() => model.step(bad)).toThrow(expect.objectContaining({ code: 'EMULATOR_CONFIG' }) as Error);
    }
    expect(() => new VehicleModel({ seed: Number.NaN })).toThrow(expect.objectContaining({ code: 'EMULATOR_CONFIG' }) as Error);
    let caught: unknown;
    try {
      model.step(-5);
    } catch (err) {
      caught = err;
    }
    expect(isTcuError(caught, 'EMULATOR_CONFIG')).toBe(true);
  });

  it('splits a large step into the same 20 ms substeps as many small steps', () => {
    const one = new VehicleModel({ seed: 5 });
    const many = new VehicleModel({ seed: 5 });
    one.step(60_000);
    for (let i = 0; i < 3000; i++) many.step(20);
    expect(one.snapshot()).toEqual(many.snapshot());
  });
});

describe('geo helpers', () => {
  it('destination and distance agree', () => {
    const from = { latitude: 52.4227, longitude: 10.7865 };
    for (const heading of [0, 45, 90, 180, 270, 359]) {
      for (const d of [0.5, 10, 1000]) {
        expect(distanceM(from, destination(from, heading, d))).toBeCloseTo(d, 6);
      }
    }
    expect(normalizeHeading(-90)).toBe(270);
    expect(normalizeHeading(720)).toBe(0);
  });
});

describe('SeededRng', () => {
  it('is reproducible, uniform enough, and independent across seeds', () => {
    const a = new SeededRng(123);
    const b = new SeededRng(123);
    const c = new SeededRng(124);
    const xs = Array.from({ length: 10_000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 10_000 }, () => b.next()));
    expect(xs.slice(0, 10)).not.toEqual(Array.from({ length: 10 }, () => c.next()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
  });
});
