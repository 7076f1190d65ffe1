export { builtinMapping, builtinMappingNames } from './builtin.js';
export {
  type EmulatorMapping,
  loadMappingFile,
  MAPPING_TRANSFORMS,
  type MappingTransform,
  parseMapping,
  type SignalMappingRule,
} from './format.js';
export { type ResolvedMapping, type ResolvedSignalMapping, resolveMapping } from './resolve.js';
