/** The libvips engine (sharp) behind the engine port: images to png, jpg, webp, avif, tiff and gif. */
export { DEFAULT_MAX_DIMENSION, VipsEngine, type VipsEngineOptions } from './vips-engine';
