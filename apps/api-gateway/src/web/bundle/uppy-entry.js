// The one bundled module of the web page: Uppy's core and its S3 uploader (@uppy/aws-s3), served as
// /web/static/uppy.js (built by scripts/build.mjs with esbuild, no CDN). The page's own modules import it
// by name like any other.
export { Uppy } from '@uppy/core';
export { default as AwsS3 } from '@uppy/aws-s3';
