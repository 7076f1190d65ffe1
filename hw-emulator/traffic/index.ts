export { type SkippedMessage, TrafficGenerator, type TrafficGeneratorOptions } from './generator.js';
export { generatedRawRange, SignalGenerator, type SignalKind, signalGenerators } from './signals.js';
export { type OverlapPlan, planOverlaps, signalBits } from './overlaps.js';
