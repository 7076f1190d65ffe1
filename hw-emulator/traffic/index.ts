export { type SkippedMessage, TrafficGenerator, type TrafficGeneratorOptions } from './generator.js';
export { rawRange, SignalGenerator, type SignalKind, signalGenerators } from './signals.js';
