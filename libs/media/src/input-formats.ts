/**
 * What ffprobe and ffmpeg may open for Kiln: one local file (the `file` protocol only) read by one
 * of the demuxers below. Everything else is refused by libavformat itself (`Format not on
 * whitelist`) before the demuxer reads anything, so a playlist or list of files is never followed.
 *
 * Left out on purpose: demuxers that open other files or URLs (`hls`, `dash`, `concat`/ffconcat,
 * `imf`, `sdp`, `rtp`, `rtsp`, `webm_dash_manifest`, `image2pipe`), text formats read as pictures
 * (`tty`), SVG (a renderer may load what it references), devices, raw sample streams that only an
 * explicit `-f` selects, and subtitle-only formats (nothing to convert to).
 */
export const ACCEPTED_DEMUXERS: readonly string[] = [
  // Containers of video (and their audio)
  'mov', // mp4, m4a, m4v, 3gp, 3g2, mj2, mov (external data references stay off: enable_drefs defaults to 0)
  'matroska', // mkv, mka, webm
  'avi',
  'flv',
  'mpegts',
  'mpeg',
  'mpegvideo',
  'm4v',
  'h264',
  'hevc',
  'ivf',
  'obu',
  'asf',
  'ogg',
  'mxf',
  'dv',
  'nut',
  'rm',
  'yuv4mpegpipe',
  'mjpeg',
  'gif',
  'apng',
  // Audio
  'mp3',
  'wav',
  'w64',
  'flac',
  'aac',
  'ac3',
  'eac3',
  'aiff',
  'amr',
  'ape',
  'au',
  'caf',
  'dts',
  'dtshd',
  'truehd',
  'mlp',
  'loas',
  'wv',
  'tta',
  'tak',
  'mpc',
  'mpc8',
  'voc',
  'xwma',
  'dsf',
  // Still images. `image2` is what a file named *.jpg/*.png opens as; it reads other files only for a
  // name with a sequence pattern (%d), which the converter's `input` never has.
  'image2',
  'png_pipe',
  'jpeg_pipe',
  'jpegls_pipe',
  'jpegxl_pipe',
  'j2k_pipe',
  'webp_pipe',
  'bmp_pipe',
  'tiff_pipe',
  'gif_pipe',
  'qoi_pipe',
  'psd_pipe',
  'dpx_pipe',
  'exr_pipe',
  'pam_pipe',
  'pbm_pipe',
  'pgm_pipe',
  'ppm_pipe',
  'pfm_pipe',
  'sgi_pipe',
  'sunrast_pipe',
  'xbm_pipe',
  'xpm_pipe',
  'xwd_pipe',
  'pcx_pipe',
  'dds_pipe',
  'photocd_pipe',
  'ico',
];

/** `-protocol_whitelist` and `-format_whitelist` for ffprobe and ffmpeg, before the `-i` they guard. */
export const INPUT_RESTRICTIONS: readonly string[] = [
  '-protocol_whitelist',
  'file',
  '-format_whitelist',
  ACCEPTED_DEMUXERS.join(','),
];

/**
 * The demuxer libavformat refused, from its log line `[hls @ 0x…] Format not on whitelist '…'`;
 * null when the text holds no such refusal.
 */
export function refusedFormat(stderr: string): string | null {
  const m = /\[([\w,]+) @ [^\]]*\] Format not on whitelist/.exec(stderr);
  if (m) return m[1];
  return /Format not on whitelist/.test(stderr) ? 'unknown' : null;
}

/** The user-facing sentence for a refused container. */
export function refusedFormatMessage(format: string): string {
  const reference = ['hls', 'concat', 'dash', 'imf', 'sdp', 'rtp', 'rtsp', 'webm_dash_manifest'].includes(format);
  return reference
    ? `input format not accepted: ${format} is a playlist or a list of other files, and Kiln converts only the file it was given`
    : `input format not accepted: ${format} is not among the audio, video and image formats Kiln reads`;
}
