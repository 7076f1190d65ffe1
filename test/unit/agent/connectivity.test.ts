import { describe, expect, it } from 'vitest';
import { policyFor } from '../../../agent/connectivity/policy.js';
import { deriveConnectivity, isConnectivityChange } from '../../../agent/connectivity/state.js';
import type { ModemSnapshot, Registration, RegistrationStatus } from '../../../drivers/modem/index.js';

function snapshot(over: Partial<ModemSnapshot> = {}, regs: Partial<Record<Registration['domain'], RegistrationStatus>> = {}): ModemSnapshot {
  return {
    link: 'open',
    profile: 'quectel',
    identity: {},
    sim: 'ready',
    registrations: Object.fromEntries(Object.entries(regs).map(([domain, status]) => [domain, { domain, status }])),
    tech: 'LTE',
    signal: { bars: 4, rssiDbm: -71, rsrpDbm: -95 },
    operator: { name: 'Vodafone.de', mcc: '262', mnc: '02', tech: 'LTE' },
    ...over,
  };
}

describe('connectivity from a modem snapshot', () => {
  it('home, roaming and searching come from the packet domains only', () => {
    expect(deriveConnectivity(snapshot({}, { eps: 'home' }))).toMatchObject({ state: 'home', tech: 'LTE', bars: 4, rssiDbm: -71, rsrpDbm: -95, operator: 'Vodafone.de', plmn: '26202' });
    expect(deriveConnectivity(snapshot({}, { eps: 'roaming' })).state).toBe('roaming');
    expect(deriveConnectivity(snapshot({}, { '5gs': 'searching', eps: 'not-registered' })).state).toBe('searching');
    // A circuit-switched registration alone carries calls and SMS, not MQTT.
    expect(deriveConnectivity(snapshot({}, { cs: 'home', eps: 'not-registered' }))).toMatchObject({ state: 'offline', reason: 'not-registered' });
  });

  it('home wins over roaming, roaming over searching, when domains disagree', () => {
    expect(deriveConnectivity(snapshot({}, { gprs: 'roaming', eps: 'home' })).state).toBe('home');
    expect(deriveConnectivity(snapshot({}, { gprs: 'searching', eps: 'roaming' })).state).toBe('roaming');
  });

  it('offline with a reason: the link, the SIM, a denied or emergency-only registration', () => {
    expect(deriveConnectivity(snapshot({ link: 'lost' }, { eps: 'home' }))).toMatchObject({ state: 'offline', reason: 'link-lost' });
    expect(deriveConnectivity(snapshot({ sim: 'missing' }, { eps: 'home' }))).toMatchObject({ state: 'offline', reason: 'sim-missing' });
    expect(deriveConnectivity(snapshot({}, { eps: 'denied' }))).toMatchObject({ state: 'offline', reason: 'denied' });
    expect(deriveConnectivity(snapshot({}, { eps: 'emergency-only' }))).toMatchObject({ state: 'offline', reason: 'emergency-only' });
    expect(deriveConnectivity(snapshot({}, {}))).toMatchObject({ state: 'offline', reason: 'not-registered' });
  });

  it('a change worth an event: state, technology or network; not a signal wobble', () => {
    const a = deriveConnectivity(snapshot({}, { eps: 'home' }));
    expect(isConnectivityChange(undefined, a)).toBe(true);
    expect(isConnectivityChange(a, deriveConnectivity(snapshot({ signal: { bars: 2, rssiDbm: -99 } }, { eps: 'home' })))).toBe(false);
    expect(isConnectivityChange(a, deriveConnectivity(snapshot({ tech: 'NR' }, { eps: 'home' })))).toBe(true);
    expect(isConnectivityChange(a, deriveConnectivity(snapshot({ operator: { mcc: '262', mnc: '01' } }, { eps: 'home' })))).toBe(true);
    expect(isConnectivityChange(a, deriveConnectivity(snapshot({}, { eps: 'roaming' })))).toBe(true);
  });
});

describe('the uplink policy per connectivity state', () => {
  it('connects only when registered; roaming sends the configured priorities only', () => {
    expect(policyFor('offline', 2)).toEqual({ allowed: false, minPriority: 0 });
    expect(policyFor('searching', 2)).toEqual({ allowed: false, minPriority: 0 });
    expect(policyFor('home', 2)).toEqual({ allowed: true, minPriority: 0 });
    expect(policyFor('roaming', 2)).toEqual({ allowed: true, minPriority: 2 });
    expect(policyFor('roaming', 0)).toEqual({ allowed: true, minPriority: 0 });
  });
});
