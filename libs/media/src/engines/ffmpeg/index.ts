/** The ffmpeg engine (audio, video, a frame of a video, HLS, waveform, metadata) behind the engine port. */
export { FfmpegEngine, type FfmpegEngineOptions } from './ffmpeg-engine';
