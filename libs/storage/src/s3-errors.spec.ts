// The S3 error parser on real error documents: radosgw 16 (captured from scripts/s3-local.sh) and the
// documented AWS / MinIO shapes.
import {
  S3RequestError,
  answerError,
  errorCode,
  fromMinioError,
  isNotFound,
  isRetryable,
  parseS3Error,
} from './s3-errors';

/** radosgw 16 error document as it is sent: one line, an empty <Message> for most codes. */
function radosgw(code: string, message = '', bucket: string | undefined = 'kiln-test-6f1c2a'): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<Error><Code>${code}</Code><Message>${message}</Message>` +
    (bucket ? `<BucketName>${bucket}</BucketName>` : '') +
    '<RequestId>tx000007f61c12a581c60b0-006b0cb774-1014-default</RequestId>' +
    '<HostId>1014-default-default</HostId></Error>'
  );
}

describe('parseS3Error', () => {
  it.each([
    ['GET of a missing key', 'NoSuchKey'],
    ['GET in a missing bucket', 'NoSuchBucket'],
    ['UploadPart of an unknown upload', 'NoSuchUpload'],
    ['CompleteMultipartUpload with a wrong ETag', 'InvalidPart'],
    ['CompleteMultipartUpload with a small part', 'EntityTooSmall'],
    ['GET of a range beyond the object', 'InvalidRange'],
  ])('reads radosgw %s (%s), whose <Message> is empty, as no message', (_what, code) => {
    expect(parseS3Error(radosgw(code))).toEqual({ code, message: undefined });
  });

  it('reads radosgw ListParts of an unknown upload as NoSuchKey (AWS and MinIO say NoSuchUpload)', () => {
    expect(parseS3Error(radosgw('NoSuchKey'))?.code).toBe('NoSuchKey');
  });

  it('reads radosgw completing an unknown or aborted upload: 500 InternalError with a message', () => {
    const body = radosgw('InternalError', 'This multipart completion is already in progress');
    expect(parseS3Error(body)).toEqual({
      code: 'InternalError',
      message: 'This multipart completion is already in progress',
    });
  });

  it('reads radosgw SignatureDoesNotMatch (no BucketName)', () => {
    expect(parseS3Error(radosgw('SignatureDoesNotMatch', '', undefined))?.code).toBe('SignatureDoesNotMatch');
  });

  it('reads the AWS document, indented over several lines', () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>NoSuchUpload</Code>
  <Message>The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.</Message>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
  <RequestId>4442587FB7D0A2F9</RequestId>
  <HostId>JuKZqmXuiwFeDQxhD7M8KtsKobSzWA1QEjLbTMTagkKdBX2z7Il/jGhDeJ3j6s80</HostId>
</Error>`;
    expect(parseS3Error(body)).toEqual({
      code: 'NoSuchUpload',
      message:
        'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    });
  });

  it('reads the MinIO document and decodes XML entities in the message', () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooSmall</Code>' +
      '<Message>Your proposed upload is smaller than the minimum allowed object size &amp; can&#39;t be &lt;5 MiB&gt;.</Message>' +
      '<Key>uploads/a&amp;b.bin</Key><BucketName>kiln</BucketName><Resource>/kiln/uploads/a&amp;b.bin</Resource>' +
      '<RequestId>1793E4B4B6F7C2A1</RequestId><HostId>dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8</HostId></Error>';
    expect(parseS3Error(body)).toEqual({
      code: 'EntityTooSmall',
      message: "Your proposed upload is smaller than the minimum allowed object size & can't be <5 MiB>.",
    });
  });

  it('reads an error sent in a 200 answer (CopyObject, CompleteMultipartUpload)', () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n\n\n\n' +
      '<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message>' +
      '<RequestId>656c76696e6727732072657175657374</RequestId></Error>';
    expect(parseS3Error(body)?.code).toBe('InternalError');
  });

  it('finds no error in success documents, empty bodies and pages that are not S3', () => {
    const complete =
      '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      '<Location>kiln-test.127.0.0.1/kiln/a</Location><Bucket>kiln</Bucket><Key>a</Key><ETag></ETag></CompleteMultipartUploadResult>';
    const copy =
      '<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult><LastModified>2026-11-24T10:00:00.000Z</LastModified>' +
      '<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>';
    expect(parseS3Error(complete)).toBeUndefined();
    expect(parseS3Error(copy)).toBeUndefined();
    expect(parseS3Error('')).toBeUndefined();
    expect(parseS3Error('<html><body><h1>502 Bad Gateway</h1></body></html>')).toBeUndefined();
  });

  it('reads only the <Error> element, also when the answer was cut short', () => {
    expect(parseS3Error('<Errors><Code>Nope</Code></Errors>')).toBeUndefined();
    expect(parseS3Error('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Reduce your req')).toEqual({
      code: 'SlowDown',
      message: undefined,
    });
  });

  it('gives no code when the <Error> has none', () => {
    expect(parseS3Error('<Error><Message>something</Message></Error>')).toEqual({
      code: undefined,
      message: 'something',
    });
  });
});

describe('S3 error classification', () => {
  it('answerError names the request, the status and the code', () => {
    const error = answerError('completing upload 2~x of a', 500, 'InternalError');
    expect(error).toBeInstanceOf(S3RequestError);
    expect(error).toMatchObject({
      code: 'InternalError',
      statusCode: 500,
      message: 'completing upload 2~x of a failed: 500 InternalError',
    });
    expect(answerError('listing', 403, undefined)).toMatchObject({ code: 'HTTP403', message: 'listing failed: 403' });
  });

  it('errorCode reads S3 codes and socket errnos, nothing from other values', () => {
    expect(errorCode(new S3RequestError('x', 'NoSuchUpload', 404))).toBe('NoSuchUpload');
    expect(errorCode(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(errorCode(new Error('plain'))).toBeUndefined();
    expect(errorCode('NoSuchKey')).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
  });

  it('isNotFound: NoSuchKey (GET) and NotFound (HEAD)', () => {
    expect(isNotFound({ code: 'NoSuchKey' })).toBe(true);
    expect(isNotFound({ code: 'NotFound' })).toBe(true);
    expect(isNotFound({ code: 'NoSuchBucket' })).toBe(false);
  });

  it('isRetryable: 5xx, idle timeouts and dropped connections, not 4xx or early answers', () => {
    expect(isRetryable(new S3RequestError('x', 'InternalError', 500))).toBe(true);
    expect(isRetryable(new S3RequestError('x', 'SlowDown', 503))).toBe(true);
    expect(isRetryable(new S3RequestError('x', 'RequestTimeout'))).toBe(true);
    expect(isRetryable(new S3RequestError('x', 'NoSuchUpload', 404))).toBe(false);
    expect(isRetryable(new S3RequestError('x', 'EarlyAnswer'))).toBe(false);
    for (const code of ['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT']) {
      expect(isRetryable({ code })).toBe(true);
    }
    expect(isRetryable({ code: 'ENOTFOUND' })).toBe(false);
  });

  it('fromMinioError: the plain Error minio-js throws after retrying a 5xx becomes an S3RequestError with its status', () => {
    const gaveUp = new Error('Request failed after 1 retries: Error: Retryable HTTP status: 503');
    const err = fromMinioError(gaveUp);
    expect(err).toBeInstanceOf(S3RequestError);
    expect(err).toMatchObject({ code: 'ServiceUnavailable', statusCode: 503, cause: gaveUp });
    expect(isRetryable(err)).toBe(true);
    expect(
      fromMinioError(new Error('Request failed after 0 retries: Error: Retryable HTTP status: 500')),
    ).toMatchObject({
      code: 'InternalError',
      statusCode: 500,
    });
    // Anything else is left as it is: S3 errors with a code, socket errors, other messages.
    const s3 = Object.assign(new Error('x'), { code: 'NoSuchKey' });
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const other = new Error('Retryable HTTP status: 503');
    for (const e of [s3, reset, other, 'text']) expect(fromMinioError(e)).toBe(e);
  });
});
