/** Whether an input can become a target at all, and if not, a message that says what it can become. */
import { CATALOG, type TargetSpec } from '@kiln/contracts';
import type { MediaInfo, MediaKind } from './media-info';

export function refuseInput(target: TargetSpec, input: MediaInfo): string | null {
  if (input.kind === 'unknown') {
    return 'input has no audio, video or image stream that ffmpeg can decode';
  }
  if (!(target.accepts as readonly string[]).includes(input.kind)) {
    return `${describeInput(input.kind)}; ${target.target} needs ${describeNeeds(target.accepts)}${suggest(input.kind, true)}`;
  }
  if (needsAudio(target) && input.streams.audio === 0) {
    return `input has no audio stream; ${target.target} needs audio${suggest(input.kind, false)}`;
  }
  return null;
}

/** Audio targets, and pictures drawn from the audio (waveform): nothing to make without an audio stream. */
function needsAudio(target: TargetSpec): boolean {
  return target.category === 'audio' || target.target === 'waveform';
}

function describeInput(kind: Exclude<MediaKind, 'unknown'>): string {
  switch (kind) {
    case 'audio':
      return 'input has no video stream';
    case 'image':
      return 'input is a still image';
    case 'video':
      return 'input is a video';
  }
}

function describeNeeds(accepts: readonly string[]): string {
  if (accepts.includes('video') && accepts.includes('image')) return 'video or an image';
  if (accepts.includes('video') && accepts.includes('audio')) return 'audio';
  return accepts.map((k) => (k === 'image' ? 'an image' : k)).join(' or ');
}

/** The targets this input does fit, so the message says what to ask for instead. */
function suggest(kind: Exclude<MediaKind, 'unknown'>, withAudioTargets: boolean): string {
  const fits = CATALOG.filter((t) => t.accepts.includes(kind) && (withAudioTargets || !needsAudio(t)));
  return fits.length ? ` (this input converts to: ${fits.map((t) => t.target).join(', ')})` : '';
}
