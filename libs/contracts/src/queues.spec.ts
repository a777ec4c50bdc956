import fc from 'fast-check';
import { jobIdFor, QueueName, type PayloadOf, type QueuePayloads } from './queues';

/** A payload of every queue whose ids (and maintenance task) all come from `id`. */
function payloadsWith(
  id: string,
  task: PayloadOf<'maintenance'>['task'] = 'expire-uploads',
): { [Q in QueueName]: QueuePayloads[Q] } {
  return {
    assemble: { uploadId: id },
    fetch: { jobId: id, inputId: id },
    convert: { jobId: id, inputId: id, conversionId: id, outputId: id },
    'convert-vips': { jobId: id, inputId: id, conversionId: id, outputId: id, engine: 'vips' },
    'convert-office': { jobId: id, inputId: id, conversionId: id, outputId: id, engine: 'office' },
    finalize: { jobId: id },
    callback: { jobId: id, deliveryId: id, event: 'job.completed' },
    maintenance: { task },
  };
}

const idsFor = (id: string) =>
  Object.entries(payloadsWith(id)).map(([queue, payload]) => jobIdFor(queue as QueueName, payload as never));

/**
 * BullMQ refuses a custom job id that reads as an integer ("Custom Id cannot be integers") or holds
 * a ':' (reserved for its own repeat keys: "Custom Id cannot contain :").
 */
const bullmqAccepts = (id: string) => !id.includes(':') && `${parseInt(id, 10)}` !== id && id.length > 0;

describe('jobIdFor', () => {
  it('is the same for the same unit of work, so a re-enqueue is a no-op', () => {
    const a = '3f2c1a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f';
    expect(idsFor(a)).toEqual(idsFor(a));
    // Only the unit's own id counts: the same output under another job/conversion id is the same unit.
    expect(jobIdFor('convert', { jobId: 'j1', inputId: 'i1', conversionId: 'c1', outputId: 'o1' })).toBe(
      jobIdFor('convert', { jobId: 'j1', inputId: 'i1', conversionId: 'c1', outputId: 'o1' }),
    );
    expect(jobIdFor('callback', { jobId: 'j1', deliveryId: 'd1', event: 'job.completed' })).toBe(
      jobIdFor('callback', { jobId: 'j1', deliveryId: 'd1', event: 'job.completed' }),
    );
  });

  it('differs between queues for payloads with the same ids', () => {
    const ids = idsFor('3f2c1a9e-8d7b-4c6a-9e5f-1a2b3c4d5e6f');
    expect(ids).toHaveLength(Object.keys(QueueName).length);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('differs between units of one queue: each output, input, upload, delivery, job and task', () => {
    const [a, b] = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
    for (const queue of Object.values(QueueName)) {
      const [pa, pb] = [payloadsWith(a)[queue], payloadsWith(b, 'stale-multipart')[queue]];
      expect({ queue, differs: jobIdFor(queue, pa as never) !== jobIdFor(queue, pb as never) }).toEqual({
        queue,
        differs: true,
      });
    }
    // Two outputs of one job and input (two conversions) are two units.
    expect(jobIdFor('convert', { jobId: 'j', inputId: 'i', conversionId: 'c1', outputId: a })).not.toBe(
      jobIdFor('convert', { jobId: 'j', inputId: 'i', conversionId: 'c2', outputId: b }),
    );
    // Two deliveries of one event (a resend) are two units; a retry of one delivery is not.
    expect(jobIdFor('callback', { jobId: 'j', deliveryId: a, event: 'job.completed' })).not.toBe(
      jobIdFor('callback', { jobId: 'j', deliveryId: b, event: 'job.completed' }),
    );
    const tasks: PayloadOf<'maintenance'>['task'][] = ['expire-uploads', 'stale-multipart', 'requeue-queued'];
    expect(new Set(tasks.map((task) => jobIdFor('maintenance', { task }))).size).toBe(tasks.length);
  });

  it('is an id BullMQ accepts (no ":", never an integer) for any UUID or numeric-looking id', () => {
    const tasks: PayloadOf<'maintenance'>['task'][] = ['expire-uploads', 'stale-multipart', 'requeue-queued'];
    fc.assert(
      fc.property(fc.oneof(fc.uuid(), fc.stringMatching(/^[0-9]{1,15}$/)), fc.constantFrom(...tasks), (id, task) => {
        for (const [queue, payload] of Object.entries(payloadsWith(id, task))) {
          const jobId = jobIdFor(queue as QueueName, payload as never);
          if (!bullmqAccepts(jobId)) throw new Error(`${queue}: BullMQ refuses the job id ${JSON.stringify(jobId)}`);
        }
      }),
    );
  });

  it('refuses a queue it does not know', () => {
    expect(() => jobIdFor('transcode' as QueueName, { jobId: 'j' } as never)).toThrow('unknown queue transcode');
  });
});
