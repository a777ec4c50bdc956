/**
 * The engines this converter runs (`KILN_CONVERTER_ENGINES`), built once from the config: each
 * engine's queue is consumed only where the engine is enabled, so a document converter (with
 * LibreOffice) scales apart from a media converter (ffmpeg, libvips).
 */
import os from 'node:os';
import type { Provider } from '@nestjs/common';
import { KILN_CONFIG, type KilnConfig } from '@kiln/config';
import type { EngineName } from '@kiln/contracts';
import { officeProfileRoot } from './office-residents';
import { selfMaker } from './work-dirs';
import { FfmpegEngine, OfficeEngine, VipsEngine, type ConversionEngine, type X264Preset } from '@kiln/media';

export const CONVERSION_ENGINES = Symbol('CONVERSION_ENGINES');
export type EngineRegistry = ReadonlyMap<EngineName, ConversionEngine>;

export function buildEngines(config: KilnConfig): EngineRegistry {
  const engines = new Map<EngineName, ConversionEngine>();
  for (const name of config.KILN_CONVERTER_ENGINES) {
    if (name === 'ffmpeg')
      engines.set(
        name,
        new FfmpegEngine({
          preset: config.KILN_FFMPEG_PRESET as X264Preset,
          threads: config.KILN_FFMPEG_THREADS || undefined,
          memoryLimitBytes: config.KILN_FFMPEG_MEMORY_LIMIT,
          limits: {
            maxPixels: config.KILN_MAX_PIXELS,
            maxDimension: config.KILN_MAX_DIMENSION,
            maxDurationS: config.KILN_MAX_DURATION_SECONDS,
            maxAudioChannels: config.KILN_MAX_AUDIO_CHANNELS,
            maxSampleRate: config.KILN_MAX_SAMPLE_RATE,
            maxOutputBytes: config.KILN_MAX_OUTPUT_SIZE,
            maxOutputRatio: config.KILN_MAX_OUTPUT_RATIO,
            outputRatioFloorBytes: config.KILN_OUTPUT_RATIO_FLOOR,
          },
        }),
      );
    if (name === 'vips')
      engines.set(name, new VipsEngine({ maxPixels: config.KILN_MAX_PIXELS, maxDimension: config.KILN_MAX_DIMENSION }));
    if (name === 'office')
      engines.set(
        name,
        new OfficeEngine({
          slots: config.KILN_CONVERTER_CONCURRENCY,
          // Named after this converter, so a converter started later can stop residents left by a killed one.
          profileRoot: officeProfileRoot(config.KILN_TMP_DIR || os.tmpdir(), selfMaker()),
          sofficePath: config.KILN_SOFFICE_PATH,
          maxPages: config.KILN_MAX_PAGES,
          memoryLimitBytes: config.KILN_FFMPEG_MEMORY_LIMIT,
        }),
      );
  }
  return engines;
}

export const enginesProvider: Provider = {
  provide: CONVERSION_ENGINES,
  useFactory: (config: KilnConfig) => buildEngines(config),
  inject: [KILN_CONFIG],
};
