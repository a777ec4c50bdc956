import {
  NOT_READY_AT_START,
  RETRIES_EXHAUSTED,
  fairPriority,
  finalOutcome,
  inputFailureOutcome,
  planStart,
  startGate,
  type ConversionRow,
  type InputRow,
  type OutputRow,
} from './job-decisions';

/** Rows as JobLifecycle reads them, with only the columns the decisions look at. */
let n = 0;
const input = (over: Partial<InputRow> = {}): InputRow => ({
  id: `in-${++n}`,
  type: 'upload',
  status: 'ready',
  filename: null,
  source: null,
  error: null,
  ...over,
});
const conversion = (over: Partial<ConversionRow> = {}): ConversionRow => ({ id: `cv-${++n}`, target: 'mp3', ...over });
const unit = (i: InputRow, c: ConversionRow, over: Partial<OutputRow> = {}): OutputRow => ({
  id: `out-${++n}`,
  inputId: i.id,
  conversionId: c.id,
  status: 'completed',
  error: null,
  errorCode: null,
  ...over,
});
const waiting = { status: 'incomplete', process: true };

describe('startIfReady: whether a job starts, and with which units', () => {
  it('an upload job starts on its first ready input; inputs still uploading fail as not ready at start', () => {
    const ready = input({ filename: 'a.wav' });
    const uploading = input({ status: 'uploading' });
    const pending = input({ status: 'pending' });
    const mp3 = conversion();
    const plan = planStart(waiting, [ready, uploading, pending], [mp3]);
    expect(plan).toEqual({
      start: true,
      units: [{ inputId: ready.id, conversionId: mp3.id }],
      failInputIds: [uploading.id, pending.id],
    });
    expect(NOT_READY_AT_START).toBe('the job started processing before this input was ready');
  });

  it('one unit per ready input × conversion, input by input; failed inputs are neither units nor failed again', () => {
    const [a, b] = [input(), input()];
    const failed = input({ status: 'failed', error: 'not audio' });
    const [mp3, ogg] = [conversion(), conversion({ target: 'ogg' })];
    const plan = planStart({ status: 'downloading', process: true }, [a, failed, b], [mp3, ogg]);
    expect(plan).toEqual({
      start: true,
      units: [
        { inputId: a.id, conversionId: mp3.id },
        { inputId: a.id, conversionId: ogg.id },
        { inputId: b.id, conversionId: mp3.id },
        { inputId: b.id, conversionId: ogg.id },
      ],
      failInputIds: [],
    });
  });

  it('remote inputs wait for every fetch: a pending, uploading or assembling remote input holds the start', () => {
    for (const status of ['pending', 'uploading', 'assembling']) {
      const plan = planStart(waiting, [input({ type: 'remote' }), input({ type: 'remote', status })], [conversion()]);
      expect(plan).toEqual({ start: false, reason: 'remote inputs still fetching' });
    }
    const fetched = planStart(
      waiting,
      [input({ type: 'remote' }), input({ type: 'remote', status: 'failed' })],
      [conversion()],
    );
    expect(fetched.start).toBe(true);
  });

  it('an input being assembled blocks the start (its last chunk is in)', () => {
    expect(planStart(waiting, [input(), input({ status: 'assembling' })], [conversion()])).toEqual({
      start: false,
      reason: 'an input is assembling',
    });
  });

  it('refuses without a ready input or without a conversion', () => {
    expect(planStart(waiting, [input({ status: 'uploading' }), input({ status: 'failed' })], [conversion()])).toEqual({
      start: false,
      reason: 'no ready input',
    });
    expect(planStart(waiting, [input()], [])).toEqual({ start: false, reason: 'no conversion' });
  });

  it('refuses a missing job, a process:false job and a job started or ended; a queued job has its units sent again', () => {
    expect(startGate(undefined)).toEqual({ go: 'no', reason: 'no such job' });
    expect(startGate({ status: 'incomplete', process: false })).toEqual({ go: 'no', reason: 'not set to process' });
    expect(startGate({ status: 'queued', process: false })).toEqual({ go: 'no', reason: 'not set to process' });
    for (const status of ['processing', 'completed', 'failed', 'canceled']) {
      expect(startGate({ status, process: true })).toEqual({ go: 'no', reason: 'already started or ended' });
    }
    expect(startGate({ status: 'queued', process: true })).toEqual({ go: 'resend' });
    expect(startGate({ status: 'incomplete', process: true })).toEqual({ go: 'plan' });
    expect(startGate({ status: 'downloading', process: true })).toEqual({ go: 'plan' });
    expect(planStart({ status: 'queued', process: true }, [input()], [conversion()])).toEqual({
      start: false,
      reason: 'already queued',
    });
    expect(planStart({ status: 'processing', process: true }, [input()], [conversion()])).toEqual({
      start: false,
      reason: 'already started or ended',
    });
  });
});

describe('fairPriority: a unit runs after its key’s backlog', () => {
  it('1 with nothing ahead, one more per queued unit ahead, capped at BullMQ’s lowest priority', () => {
    expect(fairPriority(0)).toBe(1);
    expect(fairPriority(-3)).toBe(1);
    expect(fairPriority(41)).toBe(42);
    expect(fairPriority(2_097_151)).toBe(2_097_152);
    expect(fairPriority(10_000_000)).toBe(2_097_152);
  });
});

describe('finalize: the final status from the units', () => {
  const running = { status: 'processing' };

  it('every unit completed → completed, no errors, every conversion completed', () => {
    const [a, b] = [input(), input()];
    const mp3 = conversion();
    const outcome = finalOutcome(running, [a, b], [unit(a, mp3), unit(b, mp3)], [mp3]);
    expect(outcome).toEqual({
      decided: true,
      status: 'completed',
      stuckUnitIds: [],
      errors: [],
      conversions: [{ id: mp3.id, status: 'completed', error: null }],
    });
  });

  it('any unit failed → failed, the error names the input and the conversion; only that conversion fails', () => {
    const a = input({ filename: 'talk.wav' });
    const [mp3, ogg] = [conversion(), conversion({ target: 'ogg' })];
    const outcome = finalOutcome(
      running,
      [a],
      [unit(a, mp3), unit(a, ogg, { status: 'failed', errorCode: 'unprocessable', error: 'no audio stream' })],
      [mp3, ogg],
    );
    expect(outcome).toMatchObject({
      decided: true,
      status: 'failed',
      errors: [
        {
          code: 'unprocessable',
          message: 'talk.wav → ogg: no audio stream',
          source: 'conversion',
          input_id: a.id,
          conversion_id: ogg.id,
        },
      ],
      conversions: [
        { id: mp3.id, status: 'completed', error: null },
        { id: ogg.id, status: 'failed', error: 'no audio stream' },
      ],
    });
  });

  it('a unit that never ended is failed as retries exhausted (and named so)', () => {
    const a = input({ filename: 'a.wav' });
    const mp3 = conversion();
    const stuck = unit(a, mp3, { status: 'processing' });
    const outcome = finalOutcome(running, [a], [stuck], [mp3]);
    expect(outcome).toMatchObject({
      decided: true,
      status: 'failed',
      stuckUnitIds: [stuck.id],
      errors: [
        { code: RETRIES_EXHAUSTED.code, message: `a.wav → mp3: ${RETRIES_EXHAUSTED.message}`, source: 'conversion' },
      ],
      conversions: [{ id: mp3.id, status: 'failed', error: RETRIES_EXHAUSTED.message }],
    });
    expect(RETRIES_EXHAUSTED).toEqual({
      code: 'internal',
      message: 'the conversion stopped unexpectedly (retries exhausted)',
    });
  });

  it('a job already final (canceled) keeps its status', () => {
    const a = input();
    const mp3 = conversion();
    for (const status of ['canceled', 'completed', 'failed']) {
      expect(finalOutcome({ status }, [a], [unit(a, mp3, { status: 'processing' })], [mp3])).toEqual({
        decided: false,
        status,
      });
    }
  });

  it('an input failed without units is named; one left behind at start is not', () => {
    const a = input();
    const bad = input({ status: 'failed', error: 'unsupported file type' });
    const late = input({ status: 'failed', error: NOT_READY_AT_START });
    const mp3 = conversion();
    const outcome = finalOutcome(running, [a, bad, late], [unit(a, mp3)], [mp3]);
    expect(outcome).toMatchObject({
      status: 'completed',
      errors: [{ code: 'unprocessable', message: 'unsupported file type', source: 'input', input_id: bad.id }],
    });
  });

  it('an input that failed after its units were made is named once, through its units', () => {
    const a = input({ filename: 'a.wav', status: 'failed', error: 'deleted' });
    const mp3 = conversion();
    const outcome = finalOutcome(running, [a], [unit(a, mp3, { status: 'failed', error: 'object gone' })], [mp3]);
    expect(outcome).toMatchObject({
      status: 'failed',
      errors: [{ source: 'conversion', message: 'a.wav → mp3: object gone' }],
    });
    if (outcome.decided) expect(outcome.errors).toHaveLength(1);
  });

  it('no units at all → failed, and a conversion without units fails', () => {
    const mp3 = conversion();
    expect(finalOutcome(running, [input()], [], [mp3])).toMatchObject({
      status: 'failed',
      conversions: [{ id: mp3.id, status: 'failed', error: null }],
    });
  });
});

describe('failInput: what an input failed for good does to its job', () => {
  it('a waiting process:true job left without startable inputs fails: errors name every failed input, its callback is sent', () => {
    const gone = input({ type: 'remote', source: 'https://example.com/a.wav', status: 'failed', error: 'HTTP 404' });
    const earlier = input({ filename: 'b.wav', status: 'failed', error: 'too large' });
    const outcome = inputFailureOutcome(
      { ...waiting, callback: 'https://hooks.example.com/kiln' },
      [gone, earlier],
      gone.id,
      'input_unreachable',
    );
    expect(outcome).toEqual({
      next: 'fail',
      callback: true,
      errors: [
        {
          code: 'input_unreachable',
          message: 'https://example.com/a.wav: HTTP 404',
          source: 'input',
          input_id: gone.id,
        },
        { code: 'unprocessable', message: 'b.wav: too large', source: 'input', input_id: earlier.id },
      ],
    });
    expect(inputFailureOutcome({ ...waiting, callback: null }, [gone], gone.id, 'x')).toMatchObject({
      next: 'fail',
      callback: false,
    });
  });

  it('waits while another input may still arrive; tries to start while one is ready', () => {
    const failed = input({ status: 'failed', error: 'x' });
    for (const status of ['pending', 'uploading', 'assembling']) {
      expect(inputFailureOutcome({ ...waiting, callback: null }, [failed, input({ status })], failed.id, 'x')).toEqual({
        next: 'wait',
      });
    }
    expect(
      inputFailureOutcome(
        { ...waiting, callback: null },
        [failed, input(), input({ status: 'uploading' })],
        failed.id,
        'x',
      ),
    ).toEqual({
      next: 'try-start',
    });
  });

  it('leaves alone a process:false job, and a job already started or ended', () => {
    const failed = input({ status: 'failed', error: 'x' });
    expect(
      inputFailureOutcome({ status: 'incomplete', process: false, callback: null }, [failed], failed.id, 'x'),
    ).toEqual({ next: 'nothing' });
    for (const status of ['queued', 'processing', 'completed', 'failed', 'canceled']) {
      expect(inputFailureOutcome({ status, process: true, callback: 'https://h' }, [failed], failed.id, 'x')).toEqual({
        next: 'nothing',
      });
    }
    expect(inputFailureOutcome(undefined, [failed], failed.id, 'x')).toEqual({ next: 'nothing' });
  });
});
