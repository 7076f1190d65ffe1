// The `ota` section: defaults, what the schema cannot say, paths resolved (URLs kept), board.json.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TcuError } from '../../../core/errors.js';
import { loadConfig, parseConfig, type ConfigProblem } from '../../../config/index.js';
import { downloadRateProblem } from '../../../config/semantic.js';
import { downloadLimits } from '../../../agent/ota/download.js';
import { minimal } from './samples.js';

function withOta(ota: Record<string, unknown>, outbox?: string): Record<string, unknown> {
  const c = minimal();
  c.ota = ota;
  if (outbox !== undefined) c.outbox = { path: outbox };
  return c;
}

function problems(input: unknown): ConfigProblem[] {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(TcuError);
    return (err as TcuError).details.problems as ConfigProblem[];
  }
  throw new Error('expected CONFIG_INVALID');
}

const base = { imageRepo: 'https://ota.example.com/image', directorRepo: 'repos/director', backend: { type: 'dir-slots', dir: 'slots' } };

describe('the ota section', () => {
  it('is optional; when present its defaults are filled in', () => {
    expect(parseConfig(minimal()).ota).toBeUndefined();
    expect(parseConfig(withOta(base)).ota).toEqual({
      ...base,
      checkCron: '0 0 */6 * * *',
      hmi: { url: 'mqtt://127.0.0.1:1883', topic: 'tcu/hmi', consentTimeoutS: 600 },
      signals: { maxAgeMs: 5000, parkedMaxSpeedKmh: 0.5 },
      maxBootAttempts: 3,
      healthTimeoutS: 120,
      ecu: 'tcu',
    });
  });

  it('folders are resolved against the configuration folder; repository URLs and a program name are kept', () => {
    const ota = parseConfig(withOta({ ...base, stateDir: 'ota-state', backend: { type: 'rauc', command: 'rauc', dir: 'x' } }), { baseDir: '/etc/tcu' }).ota!;
    expect(ota).toMatchObject({ imageRepo: 'https://ota.example.com/image', directorRepo: '/etc/tcu/repos/director', stateDir: '/etc/tcu/ota-state', backend: { type: 'rauc', command: 'rauc', dir: '/etc/tcu/x' } });
    const script = parseConfig(withOta({ ...base, imageRepo: 'file:///media/usb/image', backend: { type: 'command', script: 'bin/install.sh' } }), { baseDir: '/etc/tcu' }).ota!;
    expect(script).toMatchObject({ imageRepo: 'file:///media/usb/image', backend: { script: '/etc/tcu/bin/install.sh' } });
  });

  it.each([
    ['dir-slots without dir', { ...base, backend: { type: 'dir-slots' } }, undefined, { path: '/ota/backend', message: expect.stringMatching(/"dir-slots" needs "dir"/) }],
    ['command without script', { ...base, backend: { type: 'command' } }, undefined, { path: '/ota/backend', message: expect.stringMatching(/"command" needs "script"/) }],
    ['no stateDir with the outbox in memory', base, ':memory:', { path: '/ota', message: expect.stringMatching(/needs "stateDir"/) }],
    ['a repository URL of another scheme', { ...base, imageRepo: 'ftp://host/image' }, undefined, { path: '/ota/imageRepo', message: expect.stringMatching(/http:\/\/, https:\/\/ or file:\/\//) }],
    ['a bad cron expression', { ...base, checkCron: '0 0 */6 * * * * *' }, undefined, { path: '/ota/checkCron', message: expect.stringMatching(/cron expression/) }],
    ['a signals bus that does not exist', { ...base, signals: { bus: 'body' } }, undefined, { path: '/ota/signals/bus', message: expect.stringMatching(/no bus named "body"/) }],
    ['an unknown backend type', { ...base, backend: { type: 'ostree' } }, undefined, { path: '/ota/backend/type', message: 'must be one of "dir-slots", "rauc", "command"' }],
    ['a HMI broker URL that is not MQTT', { ...base, hmi: { url: 'http://127.0.0.1' } }, undefined, { path: '/ota/hmi/url', message: expect.stringMatching(/broker URL/) }],
    ['an ECU name with a slash', { ...base, ecu: 'a/b' }, undefined, { path: '/ota/ecu', message: "must be 1 to 64 letters, digits, '_', '.' or '-'" }],
    ['a misspelt field', { ...base, checkCorn: '* * * * *' }, undefined, { path: '/ota', message: 'unknown property "checkCorn" (did you mean "checkCron"?)' }],
  ])('refuses %s', (_name, ota, outbox, expected) => {
    expect(problems(withOta(ota, outbox))).toEqual([expected]);
  });

  it('refuses a download minimum rate above half the bandwidth cap at load (the rule downloadLimits applies too)', () => {
    const ota = { ...base, download: { bandwidthBytesPerS: 1000, minRateBytesPerS: 600 } };
    expect(problems(withOta(ota))).toEqual([
      { path: '/ota/download/minRateBytesPerS', message: '600 B/s must be at most half the bandwidth cap (1000 B/s), or the cap itself would look slow' },
    ]);
    expect(() => parseConfig(withOta(ota))).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining('\n  /ota/download/minRateBytesPerS: 600 B/s must be at most half the bandwidth cap (1000 B/s)') }),
    );
    expect(() => downloadLimits(ota.download)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: `/ota/download/minRateBytesPerS: ${downloadRateProblem(ota.download)!}` }));
    // Exactly half, no cap, or no minimum (the default adapts to the cap) are fine.
    for (const download of [{ bandwidthBytesPerS: 1000, minRateBytesPerS: 500 }, { minRateBytesPerS: 1_000_000 }, { bandwidthBytesPerS: 10 }, { bandwidthBytesPerS: 1001, minRateBytesPerS: 500 }]) {
      expect(parseConfig(withOta({ ...base, download })).ota?.download).toEqual(download);
      expect(downloadRateProblem(download)).toBeUndefined();
    }
  });

  it('board.json updates the agent bundle in dir-slots, with consent through the HMI', () => {
    const config = loadConfig(join(process.cwd(), 'config/examples/board.json'));
    expect(config.ota).toMatchObject({ backend: { type: 'dir-slots', dir: '/opt/tcu-agent/slots' }, stateDir: '/var/lib/tcu-agent/ota', hmi: { topic: 'tcu/hmi' }, signals: { speedKmh: 'ESP_21.ESP_v_Signal', bus: 'powertrain' } });
  });
});
