// Public API of the models family (sparse U-ResNet for LArTPC semantic
// segmentation). The lead re-exports this from src/index.ts.
export {
  UResNet,
  URESNET_DEFAULTS,
  resolveUResNetConfig,
  uresnetPlanes,
  type UResNetConfig,
  type ResolvedUResNetConfig,
  type StateEntry,
  type StateKind,
} from './uresnet.js';
export {
  UResNetTrainer,
  collateEvents,
  predict,
  predictBatch,
  segmentationMetrics,
  trainUResNet,
  type Prediction,
  type PredictOptions,
  type SegmentationBatch,
  type SegmentationEvent,
  type SegmentationMetrics,
  type StepResult,
  type TrainOptions,
  type TrainReport,
  type TrainerOptions,
  type TestTimeAugmentation,
} from './train.js';
export {
  CHECKPOINT_CONFIG_KEY,
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_KEY,
  checkpointConfig,
  loadUResNet,
  loadUResNetWeights,
  saveUResNet,
  saveUResNetWeights,
  uresnetFromSafetensors,
  type LoadWeightsOptions,
} from './checkpoint.js';
export {
  PRETRAINED_URESNETS,
  loadPretrainedUResNet,
  pretrainedUResNetUrl,
  type PretrainedOptions,
  type PretrainedUResNetName,
} from './pretrained.js';
export {
  readSafetensors,
  writeSafetensors,
  type SafetensorsDType,
  type SafetensorsEntry,
  type SafetensorsFile,
  type SafetensorsTensor,
  type SafetensorsWriteDType,
  type WriteSafetensorsOptions,
} from './safetensors.js';
export {
  CONVERTED_FROM_KEY,
  CONVERT_IGNORED_KEY,
  CONVERT_PREFIX_KEY,
  MINKOWSKI_URESNET_ANCHOR,
  MINKOWSKI_URESNET_SOURCE,
  convertMinkowskiUResNet,
  toMinkowskiUResNet,
  type ConvertMinkowskiOptions,
  type ToMinkowskiOptions,
} from './convert.js';
